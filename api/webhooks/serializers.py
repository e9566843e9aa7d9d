"""The webhook's fields as the API reads and shows them: a start's ``notify_url``, and the
notification of a workflow's end with its attempts."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from rest_framework import serializers

from . import addresses
from .models import Attempt, Notification


class NotifyURLField(serializers.CharField):
    """Where to POST a webhook when the workflow ends: an http or https URL of a public host.

    Refused, with the reason, when the server has no WEBHOOK_SECRET (it could
    not sign the webhook), and when the host is or resolves to a private,
    loopback, link-local, reserved or multicast address and is not in
    WEBHOOK_ALLOWED_HOSTS (``addresses``). Empty: no webhook.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault(
            "help_text",
            "Where to POST a signed webhook (Standard Webhooks) when the workflow ends: "
            "an http or https URL of a public host",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        url = super().to_internal_value(data)
        if not url:
            return url
        try:
            URLValidator(schemes=addresses.SCHEMES)(url)
        except DjangoValidationError:
            try:
                addresses.parts(url)
            except addresses.Refused as exc:
                raise serializers.ValidationError(str(exc)) from None
            raise serializers.ValidationError("is not a valid http or https URL") from None
        if reason := addresses.check(url):
            raise serializers.ValidationError(reason)
        return url


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ("at", "status", "error", "duration")


class NotificationSerializer(serializers.ModelSerializer):
    """The webhook of the workflow's end: pending (being tried), delivered or failed."""

    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Notification
        fields = ("state", "attempts")


class WorkflowNotificationSerializer(NotificationSerializer):
    """A workflow's ``notification``: null until it has ended, and always without a
    ``notify_url``; such a workflow, the common case, costs no query for it."""

    def get_attribute(self, workflow):
        if not workflow.notify_url:
            return None
        return super().get_attribute(workflow)
