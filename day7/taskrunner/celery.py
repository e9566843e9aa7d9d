"""The Celery app of the taskrunner package.

Usage::

    # Terminal 1, in day7/: start a worker.
    celery -A taskrunner worker -l INFO

    # Terminal 2, in day7/: run a chain that hands job data to every step.
    python jobs.py
"""

import importlib.util
import pkgutil

from celery import Celery


def detect_task_modules(package):
    """Name every module below ``package``, at any depth.

    The package is found where Python imported it from, never through the
    current directory, so a worker started anywhere finds the same modules.
    A sub-package needs an ``__init__.py`` to be searched.
    """
    folders = importlib.util.find_spec(package).submodule_search_locations
    return sorted(
        module.name
        for module in pkgutil.walk_packages(folders, prefix=f"{package}.")
        if not module.ispkg
    )


# Results live in Redis, where any process can look a task up by its id.
# CELERY_BROKER_URL and CELERY_RESULT_BACKEND override both URLs.
app = Celery(
    "taskrunner",
    broker="amqp://guest:guest@localhost:5672//",
    backend="redis://localhost:6379/0",
    # Every module under taskrunner/tasks/ is included: add a module there and
    # the worker knows its tasks, without a change to this file.
    include=detect_task_modules("taskrunner.tasks"),
    # Every task of this app is a LoggedTask, without a word in its decorator.
    task_cls="taskrunner.base:LoggedTask",
)

app.conf.update(
    # Report STARTED when a worker picks a task up, not only PENDING and SUCCESS.
    task_track_started=True,
    # JSON is Celery's default; saying so keeps pickle out of every copy of this app.
    accept_content=["json"],
    # Tell monitors such as Flower about every task: sent, received, started, done.
    worker_send_task_events=True,
    task_send_sent_event=True,
)
