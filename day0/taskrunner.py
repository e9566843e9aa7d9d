"""A first Celery task, in one module: the app and its task."""

import os
import time

from celery import Celery

# RabbitMQ carries the task messages; the rpc:// backend sends each result
# back to the caller over RabbitMQ as well. Celery lets the environment
# variables CELERY_BROKER_URL and CELERY_RESULT_BACKEND override both URLs.
app = Celery(
    "taskrunner",
    broker="amqp://guest:guest@localhost:5672//",
    backend="rpc://",
)

# Every task sleeps this long so that you can watch it run.
TASK_DELAY = float(os.environ.get("TASK_DELAY", "5"))


@app.task
def add(x, y):
    time.sleep(TASK_DELAY)
    return x + y
