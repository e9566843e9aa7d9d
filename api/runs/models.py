"""The record of truth: every workflow the API started, and every step of it.

Redis, Celery's result store, is fast and shared, and it forgets: Celery's
``result_expires`` (a day) deletes every result, and a Redis restarted without
persistence has none at all. So the worker writes each step's state into this
database as it changes (``runs/records.py``), and the API reads its answers
from here: a finished workflow never needs Redis again.
"""

import json
import uuid
from functools import cached_property

from celery import states
from django.conf import settings
from django.db import NotSupportedError, models

from . import summaries


class Workflow(models.Model):
    """A chain of steps started for a test case."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    testcase = models.CharField(max_length=50)
    job_data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # A workflow resumed from a failed or cancelled one starts where that one
    # stopped; the steps that had succeeded are carried over, not run again.
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_by"
    )
    # The user who started it; nobody for the anonymous reader (API_ALLOW_ANONYMOUS).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="workflows",
    )
    # Where to send a webhook when the workflow ends (webhooks/); none if blank.
    notify_url = models.URLField(max_length=2000, blank=True)
    # The schedule that started it (schedules/); none for a workflow a user started.
    schedule = models.ForeignKey(
        "schedules.Schedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="workflows",
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self):
        return f"{self.testcase} {self.id}"

    @cached_property
    def summary(self):
        """State, progress, result and error of the workflow, and each step's, from its steps.

        The steps come from ``self.steps.all()``: prefetch them
        (``prefetch_related("steps")``) and a whole page of workflows is read
        in one query for all their steps.
        """
        return summaries.summarize(list(self.steps.all()), cancelled=self.cancelled_at is not None)


class Step(models.Model):
    """One step of a workflow: one Celery task, and everything that happened to it."""

    STATES = (
        states.PENDING,
        states.STARTED,
        states.RETRY,
        states.SUCCESS,
        states.FAILURE,
        states.REVOKED,
    )

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(help_text="0 for the first step")
    name = models.CharField(max_length=50)
    # The id of the Celery task that runs the step. A step carried over into a
    # resumed workflow has none: it did not run there.
    task_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    state = models.CharField(
        max_length=10, choices=[(state, state) for state in STATES], default=states.PENDING
    )
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    tries = models.PositiveIntegerField(default=0, help_text="How many times the step started")
    lost_runs = models.PositiveSmallIntegerField(
        default=0, help_text="Runs that ended with their worker process, before they could finish"
    )
    # What the step logged while it ran, every try one after the other, with
    # the errors it retried on, its traceback if it failed, and a line for each
    # run lost with its worker (runs/steplogs.py). It keeps the last
    # STEP_LOG_MAX_CHARS characters; log_cut counts those it let go.
    log = models.TextField(blank=True, default="")
    log_cut = models.PositiveIntegerField(
        default=0, help_text="Characters cut from the start of the log to keep it short"
    )
    # Every change of state, in order, as [state, ISO 8601 time] pairs: each
    # run's STARTED, a RETRY's wait, a LOST run, the end. The timeline of the
    # workflow's page draws each try from these.
    history = models.JSONField(default=list, blank=True)
    # When the row last changed: the repair task (runs/repair.py) looks at the
    # steps whose record has stood still for too long.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("position",)
        constraints = (
            models.UniqueConstraint(fields=("workflow", "position"), name="one_step_per_position"),
        )
        indexes = (
            # The steps that have not ended, by the time their record last
            # moved: what the repair task asks for every few minutes.
            models.Index(
                fields=("updated_at",),
                condition=models.Q(state__in=(states.PENDING, states.STARTED, states.RETRY)),
                name="steps_not_ended",
            ),
        )

    def __str__(self):
        return f"{self.name} {self.state} ({self.task_id})"


class Appended(models.Func):
    """A JSON list field with one more item at its end, computed by the database in the UPDATE
    itself: ``Step.objects.filter(...).update(history=Appended("history", ["SUCCESS", at]))``.

    No read comes first, so two writers never lose each other's item, and the
    one UPDATE that records a change of state records its time with it.
    SQLite and PostgreSQL, the API's two databases, each say it their own way.
    """

    output_field = models.JSONField()

    def __init__(self, field, item):
        super().__init__(models.F(field), models.Value(json.dumps(item)))

    def as_sqlite(self, compiler, connection, **extra_context):
        # '$[#]' is the place after the last item (SQLite 3.31 and later).
        field, item = (compiler.compile(expression) for expression in self.source_expressions)
        return f"json_insert({field[0]}, '$[#]', json({item[0]}))", [*field[1], *item[1]]

    def as_postgresql(self, compiler, connection, **extra_context):
        # jsonb || jsonb joins two arrays: the list, and a list of the one item.
        field, item = (compiler.compile(expression) for expression in self.source_expressions)
        return f"({field[0]} || jsonb_build_array({item[0]}::jsonb))", [*field[1], *item[1]]

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError("Appended is written for SQLite and PostgreSQL")


def task_states(task_ids, workflows=None):
    """Each task's state, by id, as the old tutorial's second command answers.

    An id that the API never gave to a step, or that belongs to a workflow
    not among ``workflows`` (the asking user's), is UNKNOWN, rather than
    Celery's PENDING for any id at all; a step after a failed one is NOT_RUN.
    One query finds the workflows of the ids, one more all their steps.
    """
    workflows = Workflow.objects.all() if workflows is None else workflows
    workflows = (
        workflows.filter(steps__task_id__in=set(task_ids)).distinct().prefetch_related("steps")
    )
    known = {step.task_id: step.state for workflow in workflows for step in workflow.summary.steps}
    return {task_id: known.get(task_id, summaries.UNKNOWN) for task_id in task_ids}


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` that a client sent with a start, and the workflow that start started.

    The same key with the same request, from the same client, answers that
    workflow again for a day rather than start another (``runs/idempotency.py``).
    The row is stored in the transaction that stores the workflow, and goes with it.
    """

    # Who sent the key: "user:<id>", or "anonymous" for the reader of
    # API_ALLOW_ANONYMOUS, who has no user. Not the workflow's owner, which is
    # NULL for that reader: a unique constraint holds NULLs apart, on SQLite
    # as on PostgreSQL (before 15's NULLS NOT DISTINCT), and two retries of an
    # anonymous start would each start a workflow.
    client = models.CharField(max_length=50)
    key = models.CharField(max_length=255)
    # The SHA-256 of the request's method, path and JSON body, in canonical form.
    fingerprint = models.CharField(max_length=64)
    workflow = models.OneToOneField(
        Workflow, on_delete=models.CASCADE, related_name="idempotency_key"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Whether the request that stored the key has sent its workflow's chain:
    # until then, the same key answers 409, for the chain may yet be refused.
    sent = models.BooleanField(default=False)

    class Meta:
        constraints = (
            # The database decides which of two requests with one key starts
            # the workflow: the second insert waits for the first to commit,
            # then fails, and that request answers the first one's workflow.
            models.UniqueConstraint(fields=("client", "key"), name="one_start_per_key"),
        )

    def __str__(self):
        return f"{self.client} {self.key!r} → {self.workflow_id}"
