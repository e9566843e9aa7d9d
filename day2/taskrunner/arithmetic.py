"""Tasks that do arithmetic."""

import os
import time

from taskrunner.celery import app

# Every task sleeps this long so that you can watch it run.
TASK_DELAY = float(os.environ.get("TASK_DELAY", "5"))


@app.task
def add(x, y):
    time.sleep(TASK_DELAY)
    return x + y


@app.task
def sub(x, y):
    time.sleep(TASK_DELAY)
    return x - y
