"""Tasks that work on text."""

import os
import time

from taskrunner.celery import app

# Every task sleeps this long so that you can watch it run.
TASK_DELAY = float(os.environ.get("TASK_DELAY", "5"))


@app.task
def count_words(text):
    time.sleep(TASK_DELAY)
    return len(text.split())
