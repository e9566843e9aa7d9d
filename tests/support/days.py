"""A day's ``taskrunner`` imported in the test's process, with a worker of its own.

Each day's package is called ``taskrunner``, so this process holds one day's at
a time: ``Day`` imports it on entry and forgets it, and the modules beside it,
on exit. Its worker reads and sends to a queue made for it alone, so a task
left behind by a failed test waits where no other day's worker looks, and the
queue is deleted at the end.
"""

import importlib
import sys
import uuid

from sprout import REPO, DayWorker

from .clients import run_client


def forget_day_modules():
    """Drop the modules a day brought: its ``taskrunner`` package and the modules beside it.

    Every day has a ``taskrunner``, and several have a ``workflows.py``: the
    next day imported in this process must get its own, not a cached one.
    """
    days = tuple(str(path) for path in REPO.glob("day[0-9]*"))
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None) or ""
        if name.partition(".")[0] == "taskrunner" or location.startswith(days):
            del sys.modules[name]


def unique_queue(name):
    """A queue for one test module's worker: no other worker reads it."""
    return f"test-{name}-{uuid.uuid4().hex[:8]}"


class Day:
    """One day's Celery project, imported in this process, with a worker of its own.

    ``env`` adds to the worker's environment (``{"TASK_DELAY": "0.1"}``).
    """

    def __init__(self, name, folder=None, env=None):
        self.name = name
        self.folder = folder or REPO / name
        self.queue = unique_queue(name)
        self.worker = DayWorker(name, folder=self.folder, queue=self.queue, env=env)
        self.app = None

    def __enter__(self):
        forget_day_modules()
        sys.path.insert(0, str(self.folder))
        self.app = importlib.import_module("taskrunner").app
        # Before the first message is sent: route this day's tasks to its worker.
        self.app.conf.task_default_queue = self.queue
        self.worker.start()
        return self

    def __exit__(self, *exc_info):
        # No test here checks how the worker stops (the notebooks show it): ask
        # it to, and go on while its pool winds down, its queue deleted under it.
        self.worker.stop(wait=False)
        self.worker.delete_queue()
        self.app.close()
        sys.path.remove(str(self.folder))
        forget_day_modules()

    def module(self, name):
        """Import one of the day's modules (``"taskrunner.tasks"``)."""
        return importlib.import_module(name)

    def registered(self):
        """The task names that the worker itself reports."""
        replies = self.app.control.inspect([self.worker.node], timeout=5).registered()
        return set(replies[self.worker.node])

    def client(self, code, **options):
        """Run ``code`` in a new Python process started in the day's folder, sending to its worker."""
        return run_client(code, cwd=self.folder, queue=self.queue, node=self.worker.node, **options)
