"""The steps of a job, as in day 7: each reads its operands from job_data and returns a dict;
and the periodic tasks of maintenance: the repair of the steps whose record stopped moving,
and the retention that deletes old finished workflows.

``@shared_task`` binds the tasks to the project's Celery app (config/celery.py),
which finds this module by itself (``app.autodiscover_tasks()``).
"""

import math
import os
import time

from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings

from . import idempotency, repair, retention
from .base import JobStep, LoggedTask
from .testcases import step_needs

# Every task sleeps this long so that you can watch it run.
TASK_DELAY = float(os.environ.get("TASK_DELAY", "5"))

# A task's own lines: the worker's log has them, and so has the step's log in
# the API (runs/steplogs.py), with every other line logged while it ran.
logger = get_task_logger(__name__)


def operands(step, job_data, previous):
    """The two operands of ``step``.

    A first step takes both from ``job_data[step]``; a later one takes the
    previous step's result (the one value in ``previous``) and one operand,
    as ``testcases.step_needs`` declares. The API has checked the job data
    already; this check is for a chain sent to the worker without the API.
    It leaves a divisor of 0 to the division, whose error says so.
    """
    if step not in job_data:
        raise LookupError(
            f"job_data has no key {step!r}: the operands of step {step!r} are missing"
        )
    given = list(job_data[step])
    needs = step_needs(step, first=not previous)
    if len(given) != needs.count:
        raise ValueError(f"job_data[{step!r}] must hold {needs.numbers}, not {len(given)}")
    return [*previous.values(), *given]


def finite(step, value):
    """``value``, unless it overflowed: JSON, and so the API, has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        raise OverflowError(f"the result of step {step!r} is too large for a number: {value}")
    return value


@shared_task(base=JobStep, name="steps.div")
def div(*, job_data, **previous):
    x, y = operands("div", job_data, previous)
    logger.info("%s / %s", x, y)
    time.sleep(TASK_DELAY)
    return {"div_result": finite("div", x / y)}


@shared_task(base=JobStep, name="steps.mul")
def mul(*, job_data, **previous):
    x, y = operands("mul", job_data, previous)
    logger.info("%s * %s", x, y)
    time.sleep(TASK_DELAY)
    return {"mul_result": finite("mul", x * y)}


@shared_task(base=JobStep, name="steps.add")
def add(*, job_data, **previous):
    x, y = operands("add", job_data, previous)
    logger.info("%s + %s", x, y)
    time.sleep(TASK_DELAY)
    return {"add_result": finite("add", x + y)}


@shared_task(base=JobStep, name="steps.sub")
def sub(*, job_data, **previous):
    x, y = operands("sub", job_data, previous)
    logger.info("%s - %s", x, y)
    time.sleep(TASK_DELAY)
    return {"sub_result": finite("sub", x - y)}


@shared_task(base=LoggedTask, name="maintenance.repair", ignore_result=True)
def repair_stalled_steps():
    """Celery beat sends this every REPAIR_EVERY seconds (config/settings.py): runs/repair.py.

    Returns how many steps it repaired; the log says which, and how.
    """
    return len(repair.repair_stalled_steps(after=settings.STEP_STALLED_AFTER))


@shared_task(base=LoggedTask, name="maintenance.retention", ignore_result=True)
def delete_old_workflows():
    """Celery beat sends this every RETENTION_EVERY seconds (config/settings.py): runs/retention.py;
    and the Idempotency-Keys older than a day go too (runs/idempotency.py).

    Returns how many workflows it deleted.
    """
    idempotency.forget_expired()
    return retention.delete_old_workflows(
        days=settings.RETENTION_DAYS, batch=settings.RETENTION_BATCH
    )
