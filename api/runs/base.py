"""The base classes of the tasks: every task logs its life; a job step also reads its inputs
from keyword arguments, and records its life in the database.
"""

import django.db
import kombu.exceptions
import redis.exceptions
from celery import Task, states
from celery.exceptions import Ignore, SoftTimeLimitExceeded, TimeLimitExceeded
from celery.utils.log import get_task_logger
from celery.utils.time import get_exponential_backoff_interval

from . import records

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


class JobStep(LoggedTask):
    """A step of a job chain: it reads all its inputs from keyword arguments, and the
    database keeps its life.

    A chain hands each step the result of the one before as its first
    positional argument. A job step returns a dict (``{"div_result": 2.0}``),
    and this class turns that dict into keyword arguments of the next step,
    so that no step needs a positional parameter for it.

    The step's row in the database (``runs/models.py``) is the record of
    truth, written here, in the process that runs the step, as it changes:
    STARTED before the step runs, SUCCESS with its result before the chain
    sends the next step, RETRY or FAILURE with the error. The hooks of the
    base class do it, rather than Celery's signals: they belong to job steps
    alone, where a signal would fire for every task of the app.
    """

    # The previous result still travels as a positional argument, which
    # Celery's check of the arguments against the function's signature, at
    # sending time, would refuse. __call__ below is where it is handled.
    typing = False

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
    max_retries = 5
    #: The longest wait before a retry, in seconds.
    retry_backoff_max = 60

    def __call__(self, *args, **kwargs):
        if args and isinstance(args[0], dict):
            previous, *args = args
            kwargs = {**previous, **kwargs}
        try:
            return self.run_recorded(*args, **kwargs)
        except self.transient_errors as exc:
            # Wait up to 1 s, then up to 2 s, 4 s …: exponential backoff, and a random
            # share of it (jitter), so that steps that failed together do not
            # all come back at the same moment.
            countdown = get_exponential_backoff_interval(
                factor=1,
                retries=self.request.retries,
                maximum=self.retry_backoff_max,
                full_jitter=True,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc

    def run_recorded(self, *args, **kwargs):
        delivery = self.request.delivery_info or {}
        run = records.begin(self.request.id, redelivered=delivery.get("redelivered", False))
        if run not in (None, records.RUN):
            step = run  # Its row: the step must not run.
            if step.state == states.SUCCESS:
                # Delivered again after it had succeeded (its worker died before
                # the broker heard so): hand on the recorded result, and the
                # chain goes on as it did the first time.
                logger.info("already succeeded: handing on its recorded result")
                return step.result
            if step.state in records.ENDED:
                logger.info("not run: the step is %s already", step.state)
                raise Ignore()
            raise WorkerLostTooOften(
                f"the process running step {step.name!r} ended {step.lost_runs} times "
                "before the step could finish: the step is not run again"
            )
        result = super().__call__(*args, **kwargs)
        if run is records.RUN:
            records.succeed(self.request.id, result)
        return result

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        attempt = self.request.retries + 1
        records.retry(task_id, f"{describe(exc)}; trying again ({attempt} of {self.max_retries})")

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        super().on_failure(exc, task_id, args, kwargs, einfo)
        records.fail(task_id, describe(exc))


class WorkerLostTooOften(Exception):
    """A step whose worker process kept dying while it ran: it is not run again."""


def describe(exc):
    """An error in one line, as the API shows it: ``ZeroDivisionError: division by zero``."""
    if isinstance(exc, TimeLimitExceeded):
        reason = f"the step ran past its hard time limit ({exc.args[0]:g} s) and was stopped"
    elif isinstance(exc, SoftTimeLimitExceeded):
        reason = "the step ran past its soft time limit and was stopped"
    else:
        reason = str(exc)
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
