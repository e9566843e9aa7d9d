"""The base class of every task: it logs each stage of a task's life."""

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
