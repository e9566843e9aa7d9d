"""The base classes of the tasks: every task logs its life; a job step also reads its inputs from keyword arguments."""

from celery import Task
from celery.utils.log import get_task_logger

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
    """A step of a job chain, which reads all its inputs from keyword arguments.

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
