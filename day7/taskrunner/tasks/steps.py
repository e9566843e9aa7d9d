"""The steps of a job: each reads its operands from job_data and returns a dict."""

import os
import time

from taskrunner.base import JobStep
from taskrunner.celery import app

# Every task sleeps this long so that you can watch it run.
TASK_DELAY = float(os.environ.get("TASK_DELAY", "5"))


def operands(step, job_data, previous):
    """The two operands of ``step``.

    A first step takes both from ``job_data[step]``; a later one takes the
    previous step's result (the one value in ``previous``) and one operand.
    """
    if step not in job_data:
        raise LookupError(
            f"job_data has no key {step!r}: the operands of step {step!r} are missing"
        )
    given = list(job_data[step])
    expected = 2 - len(previous)
    if len(given) != expected:
        raise ValueError(f"job_data[{step!r}] must hold {expected} operand(s), not {len(given)}")
    return [*previous.values(), *given]


@app.task(base=JobStep, name="steps.div")
def div(*, job_data, **previous):
    x, y = operands("div", job_data, previous)
    time.sleep(TASK_DELAY)
    return {"div_result": x / y}


@app.task(base=JobStep, name="steps.mul")
def mul(*, job_data, **previous):
    x, y = operands("mul", job_data, previous)
    time.sleep(TASK_DELAY)
    return {"mul_result": x * y}


@app.task(base=JobStep, name="steps.add")
def add(*, job_data, **previous):
    x, y = operands("add", job_data, previous)
    time.sleep(TASK_DELAY)
    return {"add_result": x + y}


@app.task(base=JobStep, name="steps.sub")
def sub(*, job_data, **previous):
    x, y = operands("sub", job_data, previous)
    time.sleep(TASK_DELAY)
    return {"sub_result": x - y}
