"""What the worker writes into the database as a step changes: started, retried, succeeded, failed.

JobStep (``runs/base.py``) calls these from the process that runs the step,
and the repair task (``runs/repair.py``) when a step's record fell behind.
Each is one short transaction on the step's row, found by its task id: many
worker processes write at once, and SQLite lets one write at a time. An end
(SUCCESS, FAILURE) is recorded in the same transaction as the webhook it may
make (``webhooks.notifications``): a workflow whose last step this was, and
that asked for one, gets its notification with the end, or neither.

A record only ever moves forward: once a step has ended (``ENDED``), nothing
here changes its state again. A step may run twice (its message delivered
again), and a late write of the first run must not undo what the second
recorded, nor a failure outside the step's body (``on_failure``) overwrite
the success the body had recorded.

Each of these writes, in the same UPDATE, the change of state into the step's
``history`` (a list of [state, time], which the workflow's page draws as a
timeline), and the end of a run writes the lines that run logged into the
step's ``log`` (``runs/steplogs.py``): a step's record tells its whole life,
try after try, and neither adds a write of its own that could fail apart.

A task that the API did not start (a chain sent straight to the worker, as
in days 4 to 7) has no row: these functions then write nothing, and the
task runs all the same.
"""

from dataclasses import dataclass

from celery import states
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from webhooks import notifications

from . import metrics, steplogs
from .models import Appended, Step

#: Runs of a step that may end with their worker process before it gives up.
MAX_LOST_RUNS = 3

#: The states after which a step never runs again.
ENDED = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED})

#: The states of a step that waits for a run: its first, or its next try.
WAITING = (states.PENDING, states.RETRY)

#: The states of a step that has not ended.
NOT_ENDED = (states.PENDING, states.STARTED, states.RETRY)

#: In a step's history and log: a run that ended with its worker process, noticed when
#: the broker delivered the step again.
LOST = "LOST"
LOST_RUN = (
    "the run before this one ended with its worker process, before it could record "
    "its end: what it logged is lost"
)


@dataclass(frozen=True)
class Start:
    """What ``begin`` found for this delivery of a step, and so what the worker does with it."""

    #: Whether the step runs now. If not, ``step`` says why.
    run: bool
    #: Whether the step has a row in which to record how the run ends.
    record: bool
    #: The step's row, when it must not run: it has ended already.
    step: Step | None = None


#: A step whose row now says STARTED: run it, then record how it ended.
RUN = Start(run=True, record=True)
#: A task that the API did not start, such as a chain sent straight to the
#: worker as in days 4 to 7: run it, and record nothing.
RUN_UNRECORDED = Start(run=True, record=False)


def history(state, at):
    """The step's ``history`` with ``state`` at ``at`` added, for an UPDATE."""
    return Appended("history", [state, at.isoformat()])


def ended(step):
    """A step that must not run, since its row says it has ended."""
    return Start(run=False, record=True, step=step)


class WorkerLostTooOften(Exception):
    """A step whose worker process kept dying while it ran: it is not run again."""

    def __init__(self, step):
        super().__init__(
            f"the process running step {step.name!r} ended {step.lost_runs} times "
            "before the step could finish: the step is not run again"
        )


def begin(task_id, redelivered):
    """Record that the step ``task_id`` starts a run, and say what the worker must do: a ``Start``.

    ``RUN`` once the row says STARTED; ``RUN_UNRECORDED`` for a task that has
    no row; ``ended(step)`` when the step must not run: it has ended already
    (``ENDED``), or it has just been failed here for losing ``MAX_LOST_RUNS``
    runs.

    A step's first delivery, the common case, is one UPDATE. A message that
    the broker delivers again (``redelivered``) to a step still marked
    STARTED means that the run before this one never ended: its worker died.
    That case, like a step that does not wait for a run, reads the row under
    a lock first.
    """
    if not redelivered:
        now = timezone.now()
        started = Step.objects.filter(task_id=task_id, state__in=WAITING).update(
            state=states.STARTED,
            tries=F("tries") + 1,
            started_at=Coalesce("started_at", Now()),
            error="",
            history=history(states.STARTED, now),
            updated_at=now,
        )
        if started:
            return RUN
    with transaction.atomic():
        step = Step.objects.select_for_update().filter(task_id=task_id).first()
        if step is None:
            return RUN_UNRECORDED
        if step.state in ENDED:
            return ended(step)
        now = timezone.now()
        if redelivered and step.state == states.STARTED:
            step.lost_runs += 1
            metrics.run_lost(step)
            # The run before this one never wrote its end, nor its log.
            step.history = [*step.history, [LOST, now.isoformat()]]
            steplogs.append_to(step, steplogs.Part(steplogs.line(LOST, LOST_RUN, now)))
        if step.lost_runs >= MAX_LOST_RUNS:
            # Failed here, in the same transaction that counts the last lost run.
            step.state = states.FAILURE
            step.error = f"WorkerLostTooOften: {WorkerLostTooOften(step)}"
            step.finished_at = now
            step.history = [*step.history, [states.FAILURE, now.isoformat()]]
            steplogs.append_to(step, steplogs.Part(steplogs.line(states.FAILURE, step.error, now)))
            step.save(
                update_fields=[
                    *("state", "error", "finished_at", "lost_runs"),
                    *("history", "log", "log_cut", "updated_at"),
                ]
            )
            notifications.notify_if_ended(step.workflow)
            metrics.step_ended(task_id)
            return ended(step)
        step.state = states.STARTED
        step.tries += 1
        step.started_at = step.started_at or now
        step.error = ""
        step.history = [*step.history, [states.STARTED, now.isoformat()]]
        step.save(
            update_fields=[
                *("state", "tries", "started_at", "error", "lost_runs"),
                *("history", "log", "log_cut", "updated_at"),
            ]
        )
    return RUN


def succeed(task_id, result, log=None):
    """Record the step's result, and what its run logged (a ``steplogs.Part``); True if the
    row took it (it had not ended before)."""
    with transaction.atomic():
        now = timezone.now()
        changed = Step.objects.filter(task_id=task_id, state__in=NOT_ENDED).update(
            state=states.SUCCESS,
            result=result,
            error="",
            finished_at=now,
            history=history(states.SUCCESS, now),
            **steplogs.appended(log),
            updated_at=now,
        )
        if changed:
            notifications.step_ended(task_id)
            metrics.step_ended(task_id)
    return bool(changed)


def retry(task_id, error, log=None):
    """Record that the step waits to try again, and why, and what its run logged."""
    now = timezone.now()
    Step.objects.filter(task_id=task_id, state__in=(states.PENDING, states.STARTED)).update(
        state=states.RETRY,
        error=error,
        history=history(states.RETRY, now),
        **steplogs.appended(log),
        updated_at=now,
    )


def fail(task_id, error, log=None):
    """Record that the step failed, and why, and what its run logged (its traceback too);
    True if the row took it (it had not ended before)."""
    with transaction.atomic():
        now = timezone.now()
        changed = Step.objects.filter(task_id=task_id, state__in=NOT_ENDED).update(
            state=states.FAILURE,
            error=error,
            finished_at=now,
            history=history(states.FAILURE, now),
            **steplogs.appended(log),
            updated_at=now,
        )
        if changed:
            notifications.step_ended(task_id)
            metrics.step_ended(task_id)
    return bool(changed)


def touch(step):
    """Move ``step``'s record on to now, if nobody has changed it since it was read.

    True for the one caller that did it: the repair task claims a step this
    way before it sends it again, so that two repairs at once send it once.
    """
    return bool(
        Step.objects.filter(pk=step.pk, updated_at=step.updated_at, state=step.state).update(
            updated_at=timezone.now()
        )
    )
