"""The base classes of the tasks: every task logs its life; a job step also reads its inputs
from keyword arguments, tries again while its errors can pass, and records its life in the
database. Each of these is a class of its own, and ``JobStep`` puts them together.
"""

import random
import time

import django.db
import kombu.exceptions
import redis.exceptions
from celery import Task, states
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from celery.utils.log import get_task_logger
from django.conf import settings
from django.utils import timezone

from . import records, steplogs

# The worker prefixes each line of a task logger with the task's name and id.
logger = get_task_logger(__name__)


class LoggedTask(Task):
    """A task that logs when it starts, succeeds, fails and ends.

    The worker runs a task by calling it, ``__call__``, which calls ``run``
    (the decorated function). Then it calls ``on_success`` or ``on_failure``,
    and ``after_return`` last, whatever the outcome.
    """

    def __call__(self, *args, **kwargs):
        logger.info("started with args=%r kwargs=%r", args, kwargs)
        return super().__call__(*args, **kwargs)

    def on_success(self, retval, task_id, args, kwargs):
        logger.info("succeeded: %r", retval)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        logger.error("failed: %r", exc)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        logger.info("ended in state %s", status)


class ResultAsKeywords(Task):
    """Day 7's chain of keywords: a step that returns a dict hands it to the next step as
    keyword arguments.

    A chain hands each step the result of the one before as its first
    positional argument. A job step returns a dict (``{"div_result": 2.0}``),
    and this class turns that dict into keyword arguments of the next step,
    so that no step needs a positional parameter for it.
    """

    # The previous result still travels as a positional argument, which
    # Celery's check of the arguments against the function's signature, at
    # sending time, would refuse. __call__ below is where it is handled.
    typing = False

    def __call__(self, *args, **kwargs):
        if args and isinstance(args[0], dict):
            previous, *args = args
            kwargs = {**previous, **kwargs}
        return super().__call__(*args, **kwargs)


class RetriesForAWhile(Task):
    """A task that, after an error that can pass, is sent again to run after a wait that
    grows with each try, for ``retry_for`` seconds after its first such error.

    Celery's ``autoretry_for`` with ``retry_backoff`` does much of this, and
    is not used, for three reasons. It wraps only ``run``, the task's
    function, while ``JobStep`` writes its record in ``__call__``, around
    ``run``: an error in writing the record (the database away when a step
    starts or ends) would escape it. It counts tries (``max_retries``), which
    errors that come fast spend in seconds, while an outage lasts as long as
    it lasts. And its jitter draws each wait from anywhere between nothing and
    the full wait (``backoff`` below says what that costs).
    """

    #: Errors that can pass: a lost connection to the broker, the result
    #: store or the database. A step that raises one tries again later; any
    #: other error (a division by zero, missing operands) fails it at once.
    transient_errors = (
        kombu.exceptions.OperationalError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        django.db.OperationalError,
        django.db.InterfaceError,
    )
    # No count of tries: a task tries again for retry_for seconds from its
    # first error (``retrying_for``).
    max_retries = None
    # These two keep the names of Celery's options, which mean the same; with
    # no autoretry_for, Celery itself reads neither, and next_wait does.
    #: The first wait before a retry, in seconds; it doubles with every try ...
    retry_backoff = 1
    #: ... up to this.
    retry_backoff_max = 60

    @property
    def retry_for(self):
        """How long a step keeps trying again after its first error that can pass, in seconds."""
        return settings.STEP_RETRY_FOR

    def retrying_for(self):
        """Seconds since this task's first error that can pass; 0 before one."""
        since = (self.request.headers or {}).get("retrying_since")
        return 0.0 if since is None else time.time() - since

    def next_wait(self):
        """How long to wait before the next try, in seconds."""
        return backoff(self.request.retries, self.retry_backoff, self.retry_backoff_max)

    def retry_after(self, exc, countdown):
        """Send the task again, to run in ``countdown`` seconds; raises ``Retry``.

        The new message carries the time of the first error in its headers,
        where ``retrying_for`` reads it, whichever worker runs it. Celery
        publishes it, and the broker confirms it, before this message is
        acknowledged.
        """
        headers = {**(self.request.headers or {})}
        headers.setdefault("retrying_since", time.time())
        return self.retry(exc=exc, countdown=countdown, headers=headers)


class JobStep(ResultAsKeywords, RetriesForAWhile, LoggedTask):
    """A step of a job chain: it reads all its inputs from keyword arguments
    (``ResultAsKeywords``), tries again while its errors can pass
    (``RetriesForAWhile``), and the database keeps its life.

    The step's row in the database (``runs/models.py``) is the record of
    truth, written here, in the body of the task (``__call__``), as it
    changes: STARTED before the step runs, SUCCESS with its result before the
    chain sends the next step, RETRY or FAILURE with the error. In the body
    rather than in Celery's hooks or signals, because what happens after the
    body cannot stop the message from being acknowledged: a step whose record
    cannot be written must not end. If the database cannot be reached when
    the step starts, ends or gives up, the step is sent again for later
    (``retry_later``), and the message goes only once the new one is on the
    broker.

    What the step logs while it runs is kept with its record
    (``runs/steplogs.py``): ``steplogs.capture`` holds the run's lines, and
    the write that records how the run ended carries them, with a line of
    its own for the end (the result, the error and the wait before the next
    try, or the traceback).
    """

    def __call__(self, *args, **kwargs):
        start = self.record_start()
        if not start.run:
            return self.not_run(start.step)
        with steplogs.capture() as log:
            log.note(states.STARTED, f"on {self.request.hostname}")
            try:
                # ResultAsKeywords, then LoggedTask, then the step's own function.
                result = super().__call__(*args, **kwargs)
            except (Retry, Ignore, Reject):
                raise  # Celery's own ways of ending a task, not errors.
            except self.transient_errors as exc:
                if self.retrying_for() < self.retry_for:
                    raise self.retry_later(exc, log=log) from exc
                self.record_failure(
                    exc,
                    f"; gave up after {self.retrying_for():.0f} s of tries (STEP_RETRY_FOR)",
                    log=log,
                )
                raise
            except Exception as exc:
                self.record_failure(exc, log=log)
                raise
            if start.record:
                self.record_success(result, log)
        return result

    def record_start(self):
        """Record that the step starts a run; what ``records.begin`` found (``records.Start``)."""
        delivery = self.request.delivery_info or {}
        try:
            return records.begin(self.request.id, redelivered=delivery.get("redelivered", False))
        except self.transient_errors as exc:
            # Nothing has run, and nothing says so: start later.
            raise self.retry_later(exc, record=False) from exc

    def record_success(self, result, log):
        """Record the step's result, and the run's log, before the chain sends the next step."""
        log.note(states.SUCCESS, repr(result))
        try:
            records.succeed(self.request.id, result, log.part())
        except self.transient_errors as exc:
            # The step has done its work, and its end cannot be recorded: it
            # runs again later, as it would after its worker had died.
            raise self.retry_later(exc, record=False) from exc

    def not_run(self, step):
        """What a step that must not run does instead, given its row."""
        if step.state == states.SUCCESS:
            # Delivered again after it had succeeded (its worker died before
            # the broker heard so): hand on the recorded result, and the chain
            # goes on as it did the first time.
            logger.info("already succeeded: handing on its recorded result")
            return step.result
        if step.state == states.FAILURE and step.lost_runs >= records.MAX_LOST_RUNS:
            raise records.WorkerLostTooOften(step)
        logger.info("not run: the step is %s already", step.state)
        raise Ignore()

    def retry_later(self, exc, record=True, log=None):
        """Send the step again for later (``retry_after``); raises ``Retry``.

        ``record``: say RETRY, and why, in the step's row, with what the run
        logged (``log``), if the database answers; the next run says STARTED
        either way. False when the record itself is what failed: that run's
        lines are not written.
        """
        countdown = self.next_wait()
        if record:
            reason = (
                f"{describe(exc)}; trying again in {countdown:.1f} s "
                f"(for {self.retry_for:g} s at most after the first error)"
            )
            part = None
            if log is not None:
                log.note(states.RETRY, reason)
                part = log.part()
            try:
                records.retry(self.request.id, reason, part)
            except self.transient_errors as error:
                logger.warning("could not record the retry: %s", error)
        return self.retry_after(exc, countdown)

    def record_failure(self, exc, note="", log=None):
        """Record that the step failed with ``exc``, and the run's log with its traceback;
        if the database cannot be reached, retry."""
        part = None
        if log is not None:
            log.note(states.FAILURE, describe(exc) + note, steplogs.formatted_traceback(exc))
            part = log.part()
        try:
            records.fail(self.request.id, describe(exc) + note, part)
        except self.transient_errors as error:
            # A failure that cannot be recorded must not end the step either:
            # it runs again later, and fails again, or not.
            raise self.retry_later(error, record=False) from exc

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """A failure outside the body: its hard time limit (the worker's main process
        calls this once it has killed the process that ran the step), or an error of
        Celery's after the body. The body has recorded every other failure already.
        """
        super().on_failure(exc, task_id, args, kwargs, einfo)
        if isinstance(exc, self.transient_errors):
            # Celery could not send the next step or store the result: the step
            # itself did not fail. Its record stays as it is, and the repair task
            # sends the step again if its message is lost.
            return
        # Written only if the body recorded no end. Then what the run logged
        # is lost: a process killed at its hard time limit wrote none of it.
        lost = "recorded after the run, whose own lines are lost"
        details = "" if isinstance(exc, TimeLimitExceeded) or einfo is None else einfo.traceback
        part = steplogs.Part(
            steplogs.line(states.FAILURE, f"{describe(exc)} ({lost})", timezone.now()) + details
        )
        try:
            records.fail(task_id, describe(exc), part)
        except self.transient_errors as error:
            # Nothing can be sent again from here: the repair task will find the
            # failure in the result store.
            logger.warning("could not record the failure: %s", error)


def backoff(retries, first, longest):
    """How long to wait before the try after try ``retries + 1``, in seconds.

    ``first`` doubled with every try, up to ``longest``; then a random share of
    it, from half to all of it, so that steps that failed together do not all
    come back at once. Never less than half the wait: Celery's own
    ``retry_jitter`` takes any share down to none, and a handful of tries can
    then be spent in a few seconds, well inside a database's restart.
    """
    ceiling = min(longest, first * 2 ** min(retries, 30))
    return random.uniform(ceiling / 2, ceiling)


def describe(exc):
    """An error in one line, as the API shows it: ``ZeroDivisionError: division by zero``."""
    if isinstance(exc, TimeLimitExceeded):
        reason = f"the step ran past its hard time limit ({exc.args[0]:g} s) and was stopped"
    elif isinstance(exc, SoftTimeLimitExceeded):
        reason = "the step ran past its soft time limit and was stopped"
    else:
        reason = str(exc)
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
