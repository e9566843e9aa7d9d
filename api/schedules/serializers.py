"""A schedule as the API reads and shows it.

What a schedule starts is checked exactly as a start of a workflow is: its
``testcase``, ``job_data`` and ``notify_url`` are ``WorkflowSerializer``'s
own fields, and its ``validate`` checks the job data against the test case.
When it runs is ``every`` (seconds) or ``crontab`` (cron's five fields), one
of the two.
"""

import copy
import json
from typing import ClassVar

from celery.schedules import crontab
from rest_framework import serializers
from rest_framework.utils import html

from runs.serializers import RefusesUnknownFields, WorkflowSerializer, json_kind, links_field

from .models import CRONTAB_FIELDS

#: What a schedule starts, as POST /api/workflows/ takes it.
START_FIELDS = ("testcase", "job_data", "notify_url")
#: The longest interval: a year, in seconds.
MOST_SECONDS = 366 * 24 * 3600


def described(value):
    """A JSON value in words: ``a string``, ``an object``; a number or a constant as itself."""
    return json_kind(value) if isinstance(value, str | dict | list) else json.dumps(value)


def start_field(name):
    """The start's own field ``name``, for a serializer of another class: DRF copies a
    declared field this way for each serializer that uses it."""
    return copy.deepcopy(WorkflowSerializer._declared_fields[name])


class SecondsField(serializers.IntegerField):
    """A whole number of seconds: a JSON integer, not a string, nor true; digits in a form."""

    default_error_messages: ClassVar = {
        "invalid": "must be a whole number of seconds, not {kind}",
        "min_value": "must be at least {min_value} second",
        "max_value": "must be at most {max_value} seconds (a year)",
    }

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        # A form sends text: its digits are the number (the pages' form).
        if html.is_html_input(dictionary) and isinstance(value, str) and value.isascii():
            return int(value) if value.isdigit() else value
        return value

    def to_internal_value(self, data):
        # DRF's IntegerField also takes "5" and 5.5 as 5: JSON's integers only
        # (5.0 is one, for JSON Schema), as the schema says.
        whole = isinstance(data, int) or (isinstance(data, float) and data.is_integer())
        if isinstance(data, bool) or not whole:
            self.fail("invalid", kind=described(data))
        return super().to_internal_value(int(data))


def cron_pattern(number):
    """A cron field whose values match ``number``: ``*``, ``*/15``, ``5``, ``1-5``, ``1-30/2``,
    and lists of them, ``0,30``. Every text that matches, Celery's crontab reads (the
    schema says the same pattern, so a client can tell)."""
    step = r"/[1-9][0-9]?"
    item = rf"(\*({step})?|({number})(-({number})({step})?)?)"
    return rf"^{item}(,{item})*$"


#: Each field of a crontab: what its numbers may be, and its longest text (django-celery-beat's).
CRON_NUMBERS = {
    "minute": (r"[0-5]?[0-9]", "0 to 59", 240),
    "hour": (r"[01]?[0-9]|2[0-3]", "0 to 23", 96),
    "day_of_week": (r"0?[0-6]", "0 (Sunday) to 6", 64),
    "day_of_month": (r"0?[1-9]|[12][0-9]|3[01]", "1 to 31", 124),
    "month_of_year": (r"0?[1-9]|1[0-2]", "1 to 12", 64),
}


class CronField(serializers.RegexField):
    """Text in cron's syntax; DRF's CharField would also take the number 5 as "5"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_type", kind=described(data))
        return super().to_internal_value(data)


def cron_field(name):
    number, numbers, longest = CRON_NUMBERS[name]
    return CronField(
        cron_pattern(number),
        max_length=longest,
        required=False,
        default="*",
        # Kept as sent: the pattern says what the API takes, spaces included.
        trim_whitespace=False,
        error_messages={
            "invalid": f"is not a cron field of {numbers}: *, */15, 5, 1-5, 1-30/2, or a list "
            "of them such as 0,30",
            "invalid_type": 'must be text in cron\'s syntax, such as "*/15", not {kind}',
        },
        help_text=f"In cron's syntax, {numbers}; * if not given",
    )


class CrontabSerializer(serializers.Serializer):
    """Cron's five fields, in UTC; Celery's ``crontab`` and django-celery-beat's names."""

    minute = cron_field("minute")
    hour = cron_field("hour")
    day_of_week = cron_field("day_of_week")
    day_of_month = cron_field("day_of_month")
    month_of_year = cron_field("month_of_year")

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(CRONTAB_FIELDS))
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [f"unknown field: a crontab has {', '.join(CRONTAB_FIELDS)}"]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)

    def validate(self, attrs):
        # Python's $ also matches before a last newline, as the schema's pattern does.
        attrs = {name: value.rstrip("\n") for name, value in attrs.items()}
        try:
            crontab(**attrs)
        except ValueError as exc:
            # Such as "day_of_month '31' never occurs in month_of_year '2'".
            raise serializers.ValidationError(str(exc)) from None
        return attrs


#: A schedule's links, by name, and the view each leads to.
LINKS = {
    "self": "schedule-detail",
    "pause": "schedule-pause",
    "resume": "schedule-resume",
    "workflows": "schedule-workflows",
}


class ScheduleSerializer(RefusesUnknownFields, serializers.Serializer):
    """A schedule: what it starts, when, whether it is paused, and the workflows it started."""

    id = serializers.UUIDField(read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="schedule-detail")
    testcase = start_field("testcase")
    job_data = start_field("job_data")
    notify_url = start_field("notify_url")
    every = SecondsField(
        min_value=1,
        max_value=MOST_SECONDS,
        required=False,
        allow_null=True,
        help_text="Seconds between two runs; null for a crontab. Give every or crontab.",
    )
    crontab = CrontabSerializer(
        required=False,
        allow_null=True,
        help_text="When it runs, in UTC, as cron says; null for an interval. Give every or "
        "crontab.",
    )
    enabled = serializers.BooleanField(read_only=True, help_text="false while paused")
    created_at = serializers.DateTimeField(read_only=True)
    last_run_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When its newest workflow started"
    )
    next_run_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When beat will next start one, as beat reckons it (an estimate); null "
        "while paused",
    )
    runs = serializers.IntegerField(
        read_only=True, help_text="How many workflows it started (that are still kept)"
    )
    links = links_field(LINKS)

    unknown_field = (
        "unknown field: a schedule takes testcase, job_data and notify_url, and every or crontab"
    )

    def validate(self, attrs):
        errors = {}
        for name in ("every", "crontab"):
            if name in attrs and attrs[name] is None:
                errors[name] = ["may not be null: give every or crontab"]
        given = [name for name in ("every", "crontab") if attrs.get(name) is not None]
        if not given and not errors:
            message = "give every (seconds between runs) or crontab (when, as cron says)"
            errors = {"every": [message], "crontab": [message]}
        elif len(given) == 2:
            errors["crontab"] = ["give every or crontab, not both"]
        if errors:
            raise serializers.ValidationError(errors)
        # What it starts, checked as a start of a workflow checks it.
        start = {name: attrs[name] for name in START_FIELDS if name in attrs}
        WorkflowSerializer(context=self.context).validate(start)
        return attrs
