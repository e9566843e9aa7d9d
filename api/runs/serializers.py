import json
import math
import uuid
from typing import ClassVar

from celery import states
from django.db.models import prefetch_related_objects
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from webhooks.serializers import NotifyURLField, WorkflowNotificationSerializer

from . import jobs, records
from .models import Step, Workflow
from .summaries import NOT_RUN
from .testcases import TESTCASES

TESTCASE_NAMES = ", ".join(TESTCASES)


def loads(text):
    """Parse JSON text as DRF's JSON parser does: NaN and Infinity are not JSON."""

    def refuse(constant):
        raise ValueError(f"{constant} is not a JSON value")

    return json.loads(text, parse_constant=refuse)


def json_kind(value):
    """What a JSON value is, in JSON's words: an array, a string, true …"""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    kinds = {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
    }
    return kinds.get(type(value), type(value).__name__)


def is_number(value):
    # JSON's true and false arrive as Python's True and False, which are ints.
    return isinstance(value, int | float) and not isinstance(value, bool)


# The job data is checked here rather than by the jsonschema package against
# the schema that runs/schema.py derives from the same declaration
# (testcases.Needs): jsonschema words its errors in Python's terms ("'3' is
# not of type 'number'", "[4] is too short", "0 should not be valid under
# {'const': 0}"), where the API names the step, the operand and the reason in
# JSON's. And JSON Schema cannot say "finite": 1e400 is a JSON number, which
# Python reads as infinity.


def operand_errors(needs, operands):
    """Why ``operands`` cannot be what a step ``needs`` (a ``testcases.Needs``); empty if they can."""
    if not isinstance(operands, list):
        return [f"must be {needs.described}, not {json_kind(operands)}"]
    if len(operands) != needs.count:
        return [f"must hold {needs.numbers}, not {len(operands)}"]
    errors = []
    for index, operand in enumerate(operands):
        if not is_number(operand):
            errors.append(f"operand {index + 1} must be a number, not {json_kind(operand)}")
        elif not math.isfinite(operand):
            errors.append(f"operand {index + 1} must be a finite number")
    if needs.divisor and not errors and operands[-1] == 0:
        errors.append(f"operand {needs.count} is the divisor and must not be 0")
    return errors


def job_data_errors(testcase, job_data):
    """Why ``job_data`` cannot run ``testcase``, by key of the job data; empty if it can."""
    steps = TESTCASES[testcase].needs
    errors = {}
    for step, needs in steps.items():
        if step not in job_data:
            errors[step] = [f"missing: step {step!r} of {testcase} needs {needs.described}"]
        elif problems := operand_errors(needs, job_data[step]):
            errors[step] = problems
    for key in job_data:
        if key not in steps:
            errors[key] = [f"{testcase} has no step {key!r}: its steps are {', '.join(steps)}"]
    return errors


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "number"}},
        "example": TESTCASES["ESG-TC01"].example,
        "description": (
            "The operands of every step, under the step's name: two numbers for the first "
            "step, one for each later step. A form sends it as JSON text."
        ),
    }
)
class JobDataField(serializers.JSONField):
    """DRF's JSONField: a JSON object in a JSON body, or JSON text in a form.

    DRF marks a form's value as JSON text (``is_json_string``); this field
    parses it as DRF's JSON parser parses a body, and says where it stopped.
    """

    default_error_messages: ClassVar = {
        "invalid": "is not valid JSON: {reason}",
        "not_an_object": "must be a JSON object that maps each step to its operands, not {kind}",
    }

    def to_internal_value(self, data):
        if getattr(data, "is_json_string", False):
            try:
                data = loads(data)
            except (ValueError, RecursionError) as exc:
                self.fail("invalid", reason=exc)
        if not isinstance(data, dict):
            self.fail("not_an_object", kind=json_kind(data))
        return data


class StepChangeSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=[
            states.STARTED,
            states.RETRY,
            records.LOST,
            states.SUCCESS,
            states.FAILURE,
            states.REVOKED,
        ],
        help_text="The state the step entered; LOST: the run before ended with its worker",
    )
    at = serializers.DateTimeField()


class StepSerializer(serializers.Serializer):
    name = serializers.CharField()
    task_id = serializers.CharField(
        allow_null=True,
        help_text="The Celery task that runs the step; null for a step that a resumed "
        "workflow carried over, with its result, from the workflow it resumed",
    )
    state = serializers.ChoiceField(
        choices=[*Step.STATES, NOT_RUN],
        help_text="PENDING, STARTED, RETRY (waiting to try again), SUCCESS, FAILURE, REVOKED, "
        "or NOT_RUN after a failed step",
    )
    result = serializers.JSONField(allow_null=True, help_text="The step's result, once SUCCESS")
    error = serializers.CharField(
        allow_null=True, help_text="Why the step failed (FAILURE) or will try again (RETRY)"
    )
    tries = serializers.IntegerField(help_text="How many times the step has started")
    started_at = serializers.DateTimeField(allow_null=True, help_text="When it first started")
    finished_at = serializers.DateTimeField(allow_null=True)
    log = serializers.CharField(
        allow_blank=True,
        help_text="What the step logged while it ran, try after try, a line each: its own "
        "lines and its task's, each try's end (the result; the error and the wait before a "
        "retry; the traceback of a failure), and a line for each run lost with its worker, "
        "whose own lines are lost. The last STEP_LOG_MAX_CHARS characters; a first line says "
        "how many were cut before them",
    )
    history = StepChangeSerializer(
        many=True,
        help_text="Every change of the step's state, oldest first: STARTED for each run, "
        "RETRY when it waits to try again, LOST for a run that ended with its worker, and "
        "its end",
    )


#: A workflow's links, by name, and the view each leads to: the workflow itself, its
#: three actions, and its web page, which shows its steps as they run.
LINKS = {
    "self": "workflow-detail",
    "cancel": "workflow-cancel",
    "relaunch": "workflow-relaunch",
    "resume": "workflow-resume",
    "page": "workflow-page",
}


def links_field(links):
    """A read-only field of an object's ``links`` (name: the view each leads to), as URLs;
    the schema names each of them."""

    @extend_schema_field(
        {
            "type": "object",
            "properties": {name: {"type": "string", "format": "uri"} for name in links},
        }
    )
    class LinksField(serializers.Field):
        def __init__(self, **kwargs):
            # The links are made from the whole object (its id), not from one attribute of it.
            super().__init__(source="*", read_only=True, **kwargs)

        def to_representation(self, instance):
            request = self.context.get("request")
            return {
                name: reverse(view, args=[instance.id], request=request)
                for name, view in links.items()
            }

    return LinksField()


class WorkflowListSerializer(serializers.ListSerializer):
    """A page of workflows, with their webhooks' notifications and attempts read in two
    queries for the whole page (none if no workflow there asked for one), as the view
    reads their steps in one."""

    def to_representation(self, data):
        workflows = list(data.all() if hasattr(data, "all") else data)
        # Only those that asked for a webhook can have one.
        prefetch_related_objects(
            [workflow for workflow in workflows if workflow.notify_url], "notification__attempts"
        )
        return super().to_representation(workflows)


class RefusesUnknownFields:
    """A serializer that refuses a field it does not know rather than ignore it: a misspelt
    "job_data" must not start a workflow on no data. ``unknown_field`` says what it takes."""

    unknown_field = "unknown field"

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data.keys()) - writable)
            if unknown:
                raise serializers.ValidationError({name: [self.unknown_field] for name in unknown})
        return super().to_internal_value(data)


class WorkflowSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    """A workflow: the test case and job data it was started with, and the state of its steps.

    Its state, progress, result, error and steps come from the workflow's
    summary (``Workflow.summary``), made from its steps as the database
    records them. ``notify_url`` asks for a webhook when it ends; its
    ``notification`` says whether it arrived (webhooks/).
    """

    url = serializers.HyperlinkedIdentityField(view_name="workflow-detail")
    testcase = serializers.ChoiceField(
        choices=list(TESTCASES),
        error_messages={
            "invalid_choice": f'unknown test case "{{input}}": choose one of {TESTCASE_NAMES}'
        },
    )
    job_data = JobDataField()
    task_ids = serializers.ListField(
        child=serializers.CharField(allow_null=True),
        source="summary.task_ids",
        read_only=True,
        help_text="The steps' task ids, in order",
    )
    state = serializers.CharField(
        source="summary.state",
        read_only=True,
        help_text="PENDING, STARTED, SUCCESS, FAILURE or REVOKED",
    )
    progress = serializers.CharField(
        source="summary.progress",
        read_only=True,
        help_text="Steps that succeeded, out of all: 2/4",
    )
    result = serializers.JSONField(
        source="summary.result",
        read_only=True,
        help_text="The last step's result, once SUCCESS",
    )
    error = serializers.CharField(
        source="summary.error",
        read_only=True,
        allow_null=True,
        help_text="Which step failed and why, once FAILURE",
    )
    steps = StepSerializer(source="summary.steps", many=True, read_only=True)
    links = links_field(LINKS)
    notify_url = NotifyURLField()
    notification = WorkflowNotificationSerializer(
        read_only=True,
        allow_null=True,
        help_text="The webhook of the workflow's end, once it has ended; null without notify_url",
    )
    schedule = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The schedule that started it, if one did"
    )

    class Meta:
        model = Workflow
        fields = (
            "id",
            "url",
            "testcase",
            "job_data",
            "task_ids",
            "created_at",
            "cancelled_at",
            "resumed_from",
            "state",
            "progress",
            "result",
            "error",
            "steps",
            "links",
            "notify_url",
            "notification",
            "schedule",
        )
        read_only_fields = ("cancelled_at", "resumed_from")
        list_serializer_class = WorkflowListSerializer

    unknown_field = (
        "unknown field: a workflow starts from testcase and job_data only "
        "(and notify_url, for a webhook when it ends)"
    )

    def validate(self, attrs):
        errors = job_data_errors(attrs["testcase"], attrs["job_data"])
        if errors:
            raise serializers.ValidationError({"job_data": errors})
        return attrs

    def create(self, validated_data):
        return jobs.start(
            validated_data["testcase"],
            validated_data["job_data"],
            validated_data.get("owner"),
            notify_url=validated_data.get("notify_url", ""),
        )


def is_task_id(text):
    """Whether ``text`` is a task id as Celery makes them: a UUID, in its 36-character form."""
    try:
        return len(text) == 36 and str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


class TaskListField(serializers.Field):
    """A list of task ids: a JSON array in a JSON body, or JSON text in a form or a query."""

    limit = 100

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = loads(data)
            except (ValueError, RecursionError) as exc:
                raise serializers.ValidationError(
                    f'is not valid JSON: {exc}; send a JSON array such as ["<task id>"]'
                ) from None
        if not isinstance(data, list):
            raise serializers.ValidationError(
                f"must be a JSON array of task ids, not {json_kind(data)}"
            )
        for index, item in enumerate(data, start=1):
            if not isinstance(item, str):
                raise serializers.ValidationError(
                    f"must hold task ids as strings: item {index} is {json_kind(item)}"
                )
            if not is_task_id(item):
                raise serializers.ValidationError(
                    f"must hold task ids: item {index} is not one (a task id is a UUID, "
                    f"such as e2f970f6-52ed-48fe-ad4c-93c31d312f92)"
                )
        if len(data) > self.limit:
            raise serializers.ValidationError(
                f"holds {len(data)} task ids: ask for {self.limit} at most at once"
            )
        return data

    def to_representation(self, value):
        return value


class TaskListSerializer(serializers.Serializer):
    task_list = TaskListField()


class TestcaseStepSerializer(serializers.Serializer):
    name = serializers.CharField()
    task = serializers.CharField(help_text="The Celery task that runs the step")
    operands = serializers.IntegerField(help_text="How many numbers the step takes from job_data")


class TestcaseSerializer(serializers.Serializer):
    name = serializers.CharField()
    steps = TestcaseStepSerializer(many=True)
    job_data = serializers.DictField(
        child=serializers.CharField(), help_text="What job_data must hold, by key"
    )
    example = serializers.JSONField(help_text="job_data that runs the test case")
