"""The Celery app of the taskrunner package."""

from celery import Celery

from taskrunner.discovery import detect_task_modules

# Results live in Redis, where any process can look a task up by its id.
# CELERY_BROKER_URL and CELERY_RESULT_BACKEND override both URLs.
app = Celery(
    "taskrunner",
    broker="amqp://guest:guest@localhost:5672//",
    backend="redis://localhost:6379/0",
    # The worker imports every module listed here, so it knows all their tasks.
    include=detect_task_modules("taskrunner.tasks"),
)

app.conf.update(
    # Report STARTED when a worker picks a task up, not only PENDING and SUCCESS.
    task_track_started=True,
    # JSON is Celery's default; saying so keeps pickle out of every copy of this app.
    accept_content=["json"],
)
