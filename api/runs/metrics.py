"""What the workflows API counts for Prometheus, where each event happens, and how the API shows it.

Each event is counted by a one-line call to a function below, where it
happens: a start in ``runs/jobs.py`` (in the API's processes, and in the
worker that starts the scheduled workflows), a step's end and a lost run in
``runs/records.py`` (the worker's pool processes), a cancel in
``runs/jobs.py``, a webhook's attempt in ``webhooks/tasks.py``. A step's
retry is counted from Celery's ``task_retry`` signal, which the worker sends
for every retry, whatever made it.

Every process counts in its own memory, and a service runs several: gunicorn's
processes, a worker's pool. With ``PROMETHEUS_MULTIPROC_DIR`` set, to a
directory of each service's own, prometheus_client writes each process's
counts into files there instead, and whoever serves them adds them all up
(``MultiProcessCollector``): the API at ``/metrics`` (``exposition`` below),
a worker on its own port (``config/worker_metrics.py``). Without it, as under
``runserver``, one process counts in memory and serves what it counted.

To count something of your own: declare it below (a ``Counter``, a
``Histogram``, with the labels you need), and call ``.labels(...).inc()`` or
``.observe(...)`` where it happens. It shows on the ``/metrics`` of the service
whose process counted it.
"""

import functools
import hmac
import logging
import os
from functools import cache

import django.db
from celery import states
from celery.signals import task_retry
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from .models import Step, Workflow
from .summaries import FINISHED, NOT_RUN, workflow_state
from .testcases import TESTCASES

logger = logging.getLogger(__name__)

# A step sleeps TASK_DELAY (5 s by default), may wait for a retry up to a
# minute, and is stopped at its time limit (180 s): buckets from 0.1 s to 10 min.
STEP_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# A workflow is a few steps, and may wait in the queue behind others.
WORKFLOW_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
# A webhook's attempt waits WEBHOOK_TIMEOUT (5 s) for an answer at most.
WEBHOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# Every metric has labels: prometheus_client writes a process's file for a
# metric only once it has a value, so a process that counts nothing (beat,
# manage.py, a worker's main process mostly) leaves nothing behind.
WORKFLOWS_STARTED = Counter(
    "workflows_started", "Workflows started (sent to the broker), by test case.", ["testcase"]
)
WORKFLOWS_ENDED = Counter(
    "workflows_ended",
    "Workflows that have ended, by test case and final state: SUCCESS, FAILURE, or REVOKED "
    "for a cancel.",
    ["testcase", "state"],
)
WORKFLOW_DURATION = Histogram(
    "workflow_duration_seconds",
    "Seconds from a workflow's start to its end, by test case and final state.",
    ["testcase", "state"],
    buckets=WORKFLOW_BUCKETS,
)
STEP_DURATION = Histogram(
    "step_duration_seconds",
    "Seconds from a step's first start to its end (its retries' waits included), by step "
    "and state: SUCCESS or FAILURE.",
    ["step", "state"],
    buckets=STEP_BUCKETS,
)
STEP_RETRIES = Counter(
    "step_retries", "Steps sent again to try later, by step and error.", ["step", "error"]
)
LOST_RUNS = Counter(
    "step_lost_runs",
    "Runs of a step that ended with their worker process (the broker delivered the step "
    "again), by step.",
    ["step"],
)
WEBHOOK_ATTEMPTS = Counter(
    "webhook_delivery_attempts",
    "Attempts to deliver a webhook, by outcome: delivered; retrying (a later attempt "
    "follows); failed (given up).",
    ["outcome"],
)
WEBHOOK_DURATION = Histogram(
    "webhook_delivery_attempt_duration_seconds",
    "Seconds from sending a webhook to its answer (or its error), by outcome.",
    ["outcome"],
    buckets=WEBHOOK_BUCKETS,
)


#: What is read of each step here: no result, no log.
READ = ("workflow_id", "position", "name", "task_id", "state", "started_at", "finished_at")


def never_in_the_way(count):
    """Counting never stops what it counts. An error of the metrics themselves (a
    PROMETHEUS_MULTIPROC_DIR that cannot be written, say) is logged, and the start, the
    step's record or the webhook goes on. A database error is not theirs: it is raised,
    as the record's own would be, so that the transaction it broke is not committed."""

    @functools.wraps(count)
    def counted(*args, **kwargs):
        try:
            return count(*args, **kwargs)
        except django.db.DatabaseError:
            raise
        except Exception:
            logger.exception("could not count for the metrics (%s)", count.__name__)

    return counted


def after_commit(count):
    """Run ``count`` once the transaction under way commits (never if it is rolled back); an
    error in it is logged (``robust``), and what committed stays committed."""
    transaction.on_commit(never_in_the_way(count), robust=True)


@never_in_the_way
def workflow_started(workflow):
    """Count ``workflow``'s start, once the broker has taken its chain."""
    WORKFLOWS_STARTED.labels(workflow.testcase).inc()


@never_in_the_way
def step_ended(task_id):
    """Count the end of the step ``task_id``, just recorded, and its workflow's, if it ended with it.

    Call it inside the transaction that recorded the end: it is counted once
    that commits, never for an end rolled back. One query: the states of every
    step of the workflow, which say whether it has finished.
    """
    steps = list(
        Step.objects.filter(workflow__steps__task_id=task_id)
        .select_related("workflow")
        .only(*READ, "workflow__testcase", "workflow__created_at", "workflow__cancelled_at")
        .order_by("position")
    )
    step = next((step for step in steps if step.task_id == task_id), None)
    if step is None:
        return
    if step.started_at is not None and step.finished_at is not None:
        took = (step.finished_at - step.started_at).total_seconds()
        labels = (step.name, step.state)
        after_commit(lambda: STEP_DURATION.labels(*labels).observe(took))
    count_if_ended(step.workflow, steps)


@never_in_the_way
def workflow_cancelled(workflow):
    """Count ``workflow``'s end if its first cancel ended it: no step of it was running.

    Otherwise the step that runs counts the end (``step_ended``) once it has
    ended. Call it inside the cancel's transaction.
    """
    steps = Step.objects.filter(workflow_id=workflow.pk).only(*READ).order_by("position")
    count_if_ended(workflow, list(steps))


def count_if_ended(workflow, steps):
    state = final_state([step.state for step in steps], workflow.cancelled_at is not None)
    if state is None:
        return
    took = (timezone.now() - workflow.created_at).total_seconds()
    labels = (workflow.testcase, state)

    def count():
        WORKFLOWS_ENDED.labels(*labels).inc()
        WORKFLOW_DURATION.labels(*labels).observe(took)

    after_commit(count)


def final_state(step_states, cancelled):
    """The state in which a workflow of steps in ``step_states`` has finished; None if it has
    not. The API's rules (``runs/summaries.py``): a step after one that failed did not run."""
    shown, failed = [], False
    for state in step_states:
        shown.append(NOT_RUN if failed and state != states.REVOKED else state)
        failed = failed or shown[-1] == states.FAILURE
    state = workflow_state(shown, cancelled)
    running = {states.STARTED, states.RETRY} & set(shown)
    return state if state in FINISHED and not running else None


@never_in_the_way
def run_lost(step):
    """Count a run of ``step`` that ended with its worker process; call it where it is recorded."""
    name = step.name
    after_commit(lambda: LOST_RUNS.labels(name).inc())


@task_retry.connect
@never_in_the_way
def count_retry(sender=None, reason=None, **kwargs):
    """Celery sends ``task_retry`` from the process that ran the task, for each retry."""
    if sender is None or not sender.name.startswith("steps."):
        return
    # Celery's Retry holds the error that made the step try again.
    error = getattr(reason, "exc", None)
    kind = "Retry" if error is None else type(error).__name__
    STEP_RETRIES.labels(sender.name.removeprefix("steps."), kind).inc()


@never_in_the_way
def webhook_attempt(outcome, duration):
    """Count one attempt to deliver a webhook: ``delivered``, ``retrying`` or ``failed``."""
    WEBHOOK_ATTEMPTS.labels(outcome).inc()
    WEBHOOK_DURATION.labels(outcome).observe(duration)


class RunningWorkflows:
    """``workflows_running``: the workflows that have not finished, by test case, read from
    the database each time Prometheus asks.

    Not a gauge that each process moves up at a start and down at an end. A
    workflow starts in one service (the API) and ends in another (a worker),
    so neither's gauge would hold the count; a pool process killed in the
    middle of a step never moves its gauge down; a service started again
    empties its directory of counts while its workflows still run; and a
    cancel that ends nothing, a repair, a retention would each need their own
    move. The database, the record of truth, knows the answer at any moment,
    in one query.

    The same rules as the API's (``runs/summaries.py``): a workflow has not
    finished while a step of it runs or waits to retry, or while no step has
    failed or been revoked, nor has it been cancelled, and a step has not ended.
    """

    def collect(self):
        gauge = GaugeMetricFamily(
            "workflows_running",
            "Workflows that have not finished (PENDING or STARTED, or cancelled while a "
            "step still runs), by test case, from the database.",
            labels=["testcase"],
        )
        try:
            counts = dict(running_workflows().values_list("testcase").annotate(Count("pk")))
        except django.db.Error as exc:
            # One series missing, rather than the whole page failing: the
            # counters above still reach Prometheus.
            logger.warning("workflows_running: the database does not answer: %s", exc)
            return
        for testcase in sorted(TESTCASES.keys() | counts.keys()):
            gauge.add_metric([testcase], counts.get(testcase, 0))
        yield gauge


def running_workflows():
    """The workflows that have not finished, as the API reads them: one query."""
    steps = Step.objects.filter(workflow=OuterRef("pk"))
    failed_before = Step.objects.filter(
        workflow=OuterRef("workflow"), position__lt=OuterRef("position"), state=states.FAILURE
    )
    not_ended = Step.objects.filter(state__in=(states.PENDING, states.STARTED, states.RETRY))
    return (
        Workflow.objects.filter(pk__in=not_ended.values("workflow_id"))
        .filter(
            # A step runs, or waits to retry, and none before it failed ...
            Exists(
                steps.filter(state__in=(states.STARTED, states.RETRY)).exclude(
                    Exists(failed_before)
                )
            )
            # ... or the workflow is PENDING or STARTED: nothing failed, revoked or cancelled.
            | (
                Q(cancelled_at=None)
                & ~Exists(steps.filter(state__in=(states.FAILURE, states.REVOKED)))
            )
        )
        .order_by()
    )


@cache
def registry():
    """What the API's ``/metrics`` shows: what its processes counted, and the running workflows."""
    # prometheus_client reads the variable itself, when it is imported.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every gunicorn process's files, added up, whichever process answers.
        shown = CollectorRegistry()
        multiprocess.MultiProcessCollector(shown)
    else:
        # One process: what it counted in memory (and Python's own metrics).
        shown = REGISTRY
    # prometheus_client warns that a collector of one's own shows only what the
    # process that answers holds; this one reads the database, the same from any.
    shown.register(RunningWorkflows())
    return shown


def exposition(request):
    """``GET /metrics``: the metrics in Prometheus's text format, to ``Authorization: Bearer
    METRICS_TOKEN``.

    A plain Django view, not DRF's: Prometheus reads text, not JSON, and the
    page is not part of the API (nor of its OpenAPI schema). Without
    METRICS_TOKEN, there is no such page (404): what runs, and how often it
    fails, is for the people who run the service, who set a token to see it.
    """
    token = settings.METRICS_TOKEN
    if not token:
        return JsonResponse(
            {"detail": "not found: /metrics is served only where METRICS_TOKEN is set"},
            status=404,
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared in constant time, so that the time of a refusal tells nothing of the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        refused = JsonResponse(
            {"detail": "the metrics need 'Authorization: Bearer <METRICS_TOKEN>'"}, status=401
        )
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry()), content_type=content_type)
