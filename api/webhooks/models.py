"""The webhook that says a workflow has ended, and every attempt to deliver it.

A workflow with a ``notify_url`` gets one ``Notification`` when it ends, and
only one: the row is unique per workflow (``notifications.notify_if_ended``
makes it wherever an end is recorded). Its body is written once, as the
workflow stood when it ended, and every attempt sends those same bytes under
the same ``webhook-id``, so that a receiver that gets it twice can tell.
"""

import json
import uuid

from django.db import models

from runs.models import Workflow


class Notification(models.Model):
    """The webhook of one workflow's end: what is sent, where, and whether it arrived."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATES = (PENDING, DELIVERED, FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.OneToOneField(Workflow, on_delete=models.CASCADE, related_name="notification")
    # A copy of the workflow's notify_url as it was when the workflow ended.
    url = models.URLField(max_length=2000)
    # The JSON text sent, byte for byte, with every attempt: kept as text, since a
    # JSON column (PostgreSQL's jsonb) may give its keys back in another order.
    body = models.TextField()
    state = models.CharField(
        max_length=10, choices=[(state, state) for state in STATES], default=PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When it last changed: an attempt began or ended (the repair re-sends one
    # that has stood still too long, runs/repair.py).
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.webhook_id} {self.state} ({self.url})"

    @property
    def webhook_id(self):
        """The ``webhook-id`` header: the same for every attempt, as receivers dedupe by it."""
        return f"msg_{self.id.hex}"

    @property
    def payload(self):
        return json.loads(self.body)


class Attempt(models.Model):
    """One POST of a notification, and what came of it."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempts"
    )
    at = models.DateTimeField(help_text="When the request was sent")
    status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The receiver's HTTP status; none if it did not answer"
    )
    error = models.TextField(blank=True, help_text="Why the attempt did not deliver it")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds until the answer")

    class Meta:
        ordering = ("at", "id")

    def __str__(self):
        return f"{self.at:%H:%M:%S} {self.status or self.error}"
