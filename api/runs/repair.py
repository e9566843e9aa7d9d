"""The repair of steps whose record stopped moving: an end that was not recorded, a lost message.

``JobStep`` (``runs/base.py``) never lets a step end before its record is
written, and the settings keep a step's message until it has run. Some ends
still happen where no step's body runs: a step killed at its hard time limit
is failed by the worker's main process, which may find the database away; a
message can be lost with the broker's disk, purged by hand, or acknowledged
after Celery failed to send the next step of a chain. Celery beat runs
``repair_stalled_steps`` every ``REPAIR_EVERY`` seconds, on a worker, and it
looks at every step that has not ended and whose record has not moved for
``STEP_STALLED_AFTER`` seconds, while the step before it has succeeded as long
ago (or it is the first step): a step that should be running or done, and
that nothing has been heard of since.

What it can know, and asks, in this order:

- **The result store** knows how the step ended, if Celery recorded it there
  and Redis has not forgotten it since (``result_expires``, a restart). An
  end found there is copied into the record: a SUCCESS with its result, a
  FAILURE with its error, unless that error can pass (a lost connection, a
  message Celery could not send): such a step did not fail, it was lost.
- **The workers** say which tasks they hold: running (``active``), received
  (``reserved``) or waiting for the time of their retry (``scheduled``). A
  step one of them holds is left alone.

What it cannot know: whether the step's message waits in the broker's queue.
RabbitMQ shows a queue's messages to nobody without handing them out. A step
that is neither ended in the result store nor held by a worker has its
message sent again, with the steps after it, under the same task ids; if the
old message was only waiting behind a long queue after all, the step runs
twice, which ``JobStep`` makes harmless (the second run of a step that
succeeded hands on its recorded result). That is why ``STEP_STALLED_AFTER``
must be longer than a step may wait, run (its hard time limit) or retry
(``retry_backoff_max``).
"""

import logging
from datetime import timedelta

from celery import states
from celery.exceptions import Reject
from celery.utils.log import get_task_logger
from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from config import celery_app
from webhooks import notifications

from . import jobs, records
from .base import JobStep, describe
from .models import Step

# The worker prefixes each line with the repair task's name and id.
logger = get_task_logger(__name__)

#: The most steps one run repairs; the next run goes on with the rest.
BATCH = 100

#: How long each question to the workers waits for their answers, in seconds.
INSPECT_TIMEOUT = 1.0


def stalled_steps(after, limit=BATCH):
    """The steps whose record has not moved for ``after`` seconds, though it should have.

    A step that has not ended, in a workflow that was not cancelled, whose
    row has not changed for that long, and that is either the first step or
    follows a step that succeeded that long ago. The steps after a failed one
    wait forever by design (``NOT_RUN``), and are not among them.
    """
    cutoff = timezone.now() - timedelta(seconds=after)
    before = Step.objects.filter(workflow=OuterRef("workflow"), position=OuterRef("position") - 1)
    return list(
        Step.objects.filter(
            state__in=records.NOT_ENDED,
            updated_at__lt=cutoff,
            task_id__isnull=False,
            workflow__cancelled_at__isnull=True,
        )
        .annotate(
            before_state=Subquery(before.values("state")[:1]),
            before_finished=Subquery(before.values("finished_at")[:1]),
        )
        .filter(Q(position=0) | Q(before_state=states.SUCCESS, before_finished__lt=cutoff))
        .select_related("workflow")
        .order_by("updated_at")[:limit]
    )


def recorded_end(task_id):
    """``(state, result or error)`` of a step that the result store knows has ended; or None."""
    meta = celery_app.backend.get_task_meta(task_id)
    if meta["status"] == states.SUCCESS:
        return states.SUCCESS, meta["result"]
    if meta["status"] == states.FAILURE and not lost(meta["result"]):
        return states.FAILURE, describe(meta["result"])
    return None


def lost(error):
    """Whether a failure that Celery recorded means the step was lost rather than failed."""
    if not isinstance(error, BaseException):
        return True  # Not an error Celery could rebuild: nothing to say the step failed.
    return isinstance(error, (*JobStep.transient_errors, Reject))


def held_by_workers():
    """The ids of the tasks that the workers hold: waiting to retry, received, or running.

    Three questions, a second apart, asked in the order in which a task moves
    through a worker (scheduled, then reserved, then active), so that a task
    that moves on between two of them is found by the next. A task that moves
    on by running writes its record, which the repair checks again before it
    sends anything (``records.touch``).
    """
    inspect = celery_app.control.inspect(timeout=INSPECT_TIMEOUT)
    held = set()
    for question in (inspect.scheduled, inspect.reserved, inspect.active):
        for tasks in (question() or {}).values():
            for task in tasks:
                # scheduled() wraps each task in {"eta": ..., "request": {...}}.
                held.add(task.get("request", task).get("id"))
    return held


def repair_stalled_steps(after):
    """Repair the steps whose record has not moved for ``after`` seconds; what was done, in words."""
    # The webhooks whose task was lost: a notification is made with its
    # workflow's end (the ends copied below make theirs too), its task sent after.
    done = [
        f"webhook {notification_id}: its task was lost: sent it again"
        for notification_id in notifications.send_stalled(settings.WEBHOOK_STALLED_AFTER)
    ]
    unknown = []
    for step in stalled_steps(after):
        end = recorded_end(step.task_id)
        if end is None:
            unknown.append(step)
            continue
        state, outcome = end
        if state == states.SUCCESS:
            changed = records.succeed(step.task_id, outcome)
        else:
            changed = records.fail(step.task_id, outcome)
        if changed:
            done.append(report(step, f"recorded its end from the result store: {state}"))
    if not unknown:
        return done
    held = held_by_workers()
    for step in unknown:
        if step.task_id in held:
            report(step, "a worker holds it: left alone", level=logging.INFO)
        # Claimed first: of two repairs at once, one sends the step.
        elif records.touch(step):
            jobs.send_again(step)
            done.append(report(step, "its message was lost: sent it again"))
    return done


def report(step, what, level=logging.WARNING):
    """Log what was done to ``step``, or why not, and return it in words."""
    line = f"step {step.position} ({step.name}, {step.task_id}) of workflow {step.workflow_id}, {step.state}: {what}"
    logger.log(level, "%s", line)
    return line
