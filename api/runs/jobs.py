"""Start a test case's job chain, cancel it, start it again, or resume it where it stopped.

As in day 7, every step of the chain is given the whole job data, and finds
its own operands in it. The views call these functions and nothing else.
"""

import logging

import kombu.exceptions
from celery import chain, states
from celery.result import denied_join_result
from django.db import transaction
from django.utils import timezone

from config import celery_app
from webhooks import notifications

from . import metrics
from .models import Appended, Step, Workflow
from .summaries import summarize
from .testcases import TESTCASES

logger = logging.getLogger(__name__)

# The worker's settings let publishing wait a minute for the broker
# (settings.py); a request must answer at once, so the API tries once more
# only, and answers 503 when the broker does not take the chain (NotSent).
REQUEST_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}


# The errors below say what went wrong in the workflows' own terms; the API
# (runs/exceptions.py) and the pages (runs/pages.py) decide what to answer.
class Conflict(Exception):
    """The workflow is not in a state that allows what was asked; the message says why."""


class NotSent(Exception):
    """The broker did not take the chain, so the workflow did not start; the message says why.

    Raised from kombu's ``OperationalError``, which Celery raises when it
    cannot reach the broker.
    """


def job_chain(names, job_data, previous=None, task_ids=None):
    """The chain of the steps ``names``, in order, each given the whole ``job_data``.

    Each step is the task of that name (``div`` is ``steps.div``), sent by its
    name as day 5 taught. ``previous``, a step's result, is handed to the first
    step as if the step before it had just returned it. ``task_ids``: the
    steps' task ids, when they have some already; new ones otherwise.
    """
    signatures = [
        celery_app.signature(f"steps.{name}", kwargs={"job_data": job_data}) for name in names
    ]
    if task_ids is not None:
        signatures = [
            signature.set(task_id=task_id)
            for signature, task_id in zip(signatures, task_ids, strict=True)
        ]
    if previous is not None:
        signatures[0] = signatures[0].clone(args=(previous,))
    return chain(*signatures)


def step_ids(result):
    """The task id of every step of a chain, first step first.

    A chain's result is the result of its last step, and each result knows
    the step before it as ``.parent``.
    """
    ids = []
    while result is not None:
        ids.append(result.id)
        result = result.parent
    return ids[::-1]


def start(testcase, job_data, owner=None, notify_url="", schedule=None, store_with=None):
    """Send the test case's chain to the broker and return the stored ``Workflow``.

    ``owner``: the user who starts it, and who alone will see it (with staff);
    nobody, for the anonymous reader of a course run on their own machine.
    ``notify_url``: where to send a webhook when it ends (webhooks/).
    ``schedule``: the schedule that starts it (schedules/).
    ``store_with``: as for ``launch``.
    """
    workflow = Workflow(
        testcase=testcase, job_data=job_data, owner=owner, notify_url=notify_url, schedule=schedule
    )
    return launch(workflow, TESTCASES[testcase].steps, store_with=store_with)


def launch(workflow, names, carried=(), store_with=None):
    """Store ``workflow`` with its steps ``names``, then send the chain of those not ``carried``.

    ``carried``: the steps, in order, that succeeded in the workflow this one
    resumes; they are kept as they are, and the chain starts after them with
    the last one's result.

    Freezing the chain gives every step its task id before anything is sent.
    The workflow and its steps are committed before the chain is sent,
    because the worker looks up each step's row when the step starts. If the
    broker does not take the chain, the workflow is deleted again, and
    ``NotSent`` says why: no record is kept of a workflow that never started.

    ``store_with``: a function that stores what belongs with the workflow (the
    Idempotency-Key of the request that starts it, ``runs/idempotency.py``),
    called with it in the transaction that stores it: what it stores is
    committed with the workflow or not at all, and deleted with it. What it
    raises (an ``IntegrityError``) stores nothing, and sends nothing.
    """
    previous = carried[-1].result if carried else None
    workflow_chain = job_chain(names[len(carried) :], workflow.job_data, previous)
    task_ids = step_ids(workflow_chain.freeze())
    steps = [
        *(carry(step, workflow) for step in carried),
        *(
            Step(workflow=workflow, position=position, name=name, task_id=task_id)
            for position, (name, task_id) in enumerate(
                zip(names[len(carried) :], task_ids, strict=True), start=len(carried)
            )
        ),
    ]
    with transaction.atomic():
        workflow.save()
        Step.objects.bulk_create(steps)
        if store_with is not None:
            store_with(workflow)
    # The API answers with the workflow as it was launched, without reading it back.
    workflow.summary = summarize(steps, cancelled=False)
    try:
        send(workflow_chain, retry_policy=REQUEST_RETRY_POLICY)
    except kombu.exceptions.OperationalError as exc:
        workflow.delete()
        raise NotSent(exc) from exc
    except Exception:
        workflow.delete()
        raise
    metrics.workflow_started(workflow)
    return workflow


def send(workflow_chain, **options):
    """Send a chain of steps to the broker, without waiting for any result.

    The API never waits for a result: it reads the steps' states from the
    database when asked. Saying so keeps Celery from subscribing to each
    step's result in Redis as it sends the chain, so that starting a workflow
    needs the broker and the database and nothing else.
    """
    with denied_join_result():
        workflow_chain.apply_async(**options)


def send_again(step):
    """Send ``step`` again, with the steps after it, under the task ids they have.

    The repair task (``runs/repair.py``) does this for a step whose message is
    lost. The step is handed the result that the step before it recorded, as
    ``resume`` hands it; the steps after it are sent by the chain, as usual,
    once it has succeeded.
    """
    steps = list(step.workflow.steps.all())
    rest = steps[step.position :]
    previous = steps[step.position - 1].result if step.position else None
    send(
        job_chain(
            [later.name for later in rest],
            step.workflow.job_data,
            previous,
            task_ids=[later.task_id for later in rest],
        )
    )


def carry(step, workflow):
    """A copy of a step that succeeded, for the workflow that resumes its own.

    It keeps its result, its times, its tries, its log and its history, and has
    no task id: it does not run in the new workflow.
    """
    return Step(
        workflow=workflow,
        position=step.position,
        name=step.name,
        state=step.state,
        result=step.result,
        started_at=step.started_at,
        finished_at=step.finished_at,
        tries=step.tries,
        log=step.log,
        log_cut=step.log_cut,
        history=step.history,
    )


def cancel(workflow):
    """Stop the steps of ``workflow`` that have not finished.

    A step that has not started, or waits to retry, is marked REVOKED in the
    database, which every step reads before it runs: it will not run, even on
    a worker that was away when the workflow was cancelled. Celery's revoke
    then tells every worker to drop those steps on arrival. A step already
    running finishes first, and the chain goes no further.
    """
    current = workflow.summary.state
    if workflow.cancelled_at is None and current in {states.SUCCESS, states.FAILURE}:
        raise Conflict(f"the workflow has already finished ({current}): nothing to cancel")
    with transaction.atomic():
        stopped = workflow.steps.filter(state__in=[states.PENDING, states.RETRY])
        task_ids = list(stopped.values_list("task_id", flat=True))
        now = timezone.now()
        stopped.update(
            state=states.REVOKED,
            error="cancelled",
            finished_at=now,
            history=Appended("history", [states.REVOKED, now.isoformat()]),
            updated_at=now,
        )
        if workflow.cancelled_at is None:
            workflow.cancelled_at = timezone.now()
            workflow.save(update_fields=["cancelled_at"])
            # Its end, counted once: now, or when a step that runs ends.
            metrics.workflow_cancelled(workflow)
        # Its webhook, if it asked for one, once nothing of it runs any more:
        # now, or when a step that was running ends (runs/records.py).
        notifications.notify_if_ended(workflow)
    if task_ids:
        try:
            celery_app.control.revoke(task_ids)
        except kombu.exceptions.OperationalError as exc:
            # The database has it already: the steps will not run.
            logger.warning("could not tell the workers to drop %s: %s", task_ids, exc)
    return refreshed(workflow)


def relaunch(workflow, store_with=None):
    """Start a new workflow with the test case, the job data and the webhook of ``workflow``."""
    if workflow.testcase not in TESTCASES:
        raise Conflict(f"the test case {workflow.testcase!r} no longer exists")
    return start(
        workflow.testcase,
        workflow.job_data,
        owner=workflow.owner,
        notify_url=workflow.notify_url,
        store_with=store_with,
    )


def resume(workflow, store_with=None):
    """Start a new workflow that goes on where ``workflow``, failed or cancelled, stopped.

    Its first step is the first one that did not succeed, and it is handed
    the last successful step's result: no step that succeeded runs again.
    """
    current = workflow.summary.state
    if current not in {states.FAILURE, states.REVOKED}:
        reason = "nothing is left to run" if current == states.SUCCESS else "it is still running"
        raise Conflict(
            f"the workflow is {current}: only a FAILURE or REVOKED workflow can be resumed, "
            f"and {reason}"
        )
    steps = list(workflow.steps.all())
    running = [step.name for step in steps if step.state in {states.STARTED, states.RETRY}]
    if running:
        raise Conflict(f"step {running[0]!r} is still running: resume once it has finished")
    carried = []
    for step in steps:
        if step.state != states.SUCCESS:
            break
        carried.append(step)
    resumed = Workflow(
        testcase=workflow.testcase,
        job_data=workflow.job_data,
        resumed_from=workflow,
        owner=workflow.owner,
        notify_url=workflow.notify_url,
    )
    return launch(resumed, [step.name for step in steps], carried, store_with)


def refreshed(workflow):
    """``workflow`` read again from the database, with its steps."""
    return Workflow.objects.prefetch_related("steps").get(pk=workflow.pk)
