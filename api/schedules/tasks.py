"""The task that Celery beat sends each time a schedule is due: start the schedule's workflow.

``@shared_task`` binds it to the project's Celery app (config/celery.py),
which finds this module by itself (``app.autodiscover_tasks()``). Its name
puts it on the maintenance queue (``CELERY_TASK_ROUTES``): a flood of steps
does not hold up the starts.
"""

import django.db
from celery import shared_task
from celery.utils.log import get_task_logger
from django.db import IntegrityError

from runs import idempotency, jobs
from runs.base import LoggedTask
from runs.testcases import TESTCASES

from .models import Schedule

logger = get_task_logger(__name__)


# The broker refusing the chain (jobs.NotSent: the workflow was not kept) and
# a database out of reach are errors that pass: the start is sent again after
# 1, 2, 4 s (each wait drawn between none and all of it), three times at most.
# A start that is sent again keeps its expiry (periodic.EXPIRES_AFTER): it is
# not tried once the next run is due. A raised error is acknowledged, like any
# other task's: a start that failed for good is in the worker's log, and the
# next one comes at the next run.
@shared_task(
    bind=True,
    base=LoggedTask,
    name="maintenance.start_scheduled",
    ignore_result=True,
    autoretry_for=(jobs.NotSent, django.db.OperationalError, django.db.InterfaceError),
    retry_backoff=1,
    retry_backoff_max=4,
    max_retries=3,
)
def start_scheduled(self, schedule_id):
    """Start the workflow of the schedule ``schedule_id``, as its owner; its id, or None.

    Nothing starts for a schedule deleted or paused since beat sent this:
    the log says so. Nor twice for one run: a worker that dies after the
    workflow was stored, before the message was acknowledged, gets the same
    message again (``CELERY_TASK_ACKS_LATE``). The run's task id is stored
    with the workflow as its Idempotency-Key (runs/idempotency.py), in the
    workflow's own transaction: the second delivery finds it taken, and
    starts nothing.
    """
    schedule = (
        Schedule.objects.select_related("owner", "periodic_task").filter(pk=schedule_id).first()
    )
    if schedule is None:
        logger.warning("schedule %s no longer exists: nothing started", schedule_id)
        return None
    if not schedule.periodic_task.enabled:
        logger.info("schedule %s is paused: nothing started", schedule_id)
        return None
    if schedule.testcase not in TESTCASES:
        logger.error(
            "schedule %s runs %r, which no longer exists: nothing started",
            schedule_id,
            schedule.testcase,
        )
        return None
    run = idempotency.Key(client=f"schedule:{schedule_id}", key=self.request.id, fingerprint="")
    try:
        workflow = jobs.start(
            schedule.testcase,
            schedule.job_data,
            owner=schedule.owner,
            notify_url=schedule.notify_url,
            schedule=schedule,
            store_with=run.store,
        )
    except IntegrityError:
        logger.warning(
            "schedule %s: run %s started its workflow already: nothing started",
            schedule_id,
            self.request.id,
        )
        return None
    run.sent(workflow)
    logger.info("schedule %s started workflow %s", schedule_id, workflow.id)
    return str(workflow.id)
