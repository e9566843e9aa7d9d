"""Tasks that do arithmetic."""

import os
import time

from taskrunner.celery import app

# Every task sleeps this long so that you can watch it run.
TASK_DELAY = float(os.environ.get("TASK_DELAY", "5"))


@app.task(name="arithmetic.add")
def add(x, y):
    time.sleep(TASK_DELAY)
    return x + y


@app.task(name="arithmetic.sub")
def sub(x, y):
    time.sleep(TASK_DELAY)
    return x - y


@app.task(name="arithmetic.mul")
def mul(x, y):
    time.sleep(TASK_DELAY)
    return x * y


@app.task(name="arithmetic.div")
def div(x, y):
    time.sleep(TASK_DELAY)
    return x / y


@app.task(name="arithmetic.difference")
def difference(values):
    """The first value minus the second.

    A chord's last step receives the results of its group as one list, so
    this step takes one argument, not two: sub(x, y) in its place would be
    called with a single list and fail.
    """
    time.sleep(TASK_DELAY)
    first, second = values
    return first - second
