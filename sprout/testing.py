"""What the course's tests share: a day imported here with its worker, and client scripts.

Each day's package is called ``taskrunner``, so this process holds one day's at
a time: ``Day`` imports it on entry and forgets it, and the modules beside it,
on exit. Its worker reads
and sends to a queue made for it alone, so a task left behind by a failed test
waits where no other day's worker looks, and the queue is deleted at the end.
"""

import contextlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import pytest

from .paths import REPO
from .services import embedded
from .worker import DEFAULT_QUEUE, DayWorker


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


def unique_queue(day):
    return f"test-{day}-{uuid.uuid4().hex[:8]}"


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
        """Run ``code`` in a new Python process started in the day's folder."""
        return run_client(code, cwd=self.folder, queue=self.queue, node=self.worker.node, **options)


def run_client(code, *, cwd, queue, node=None, env=None, timeout=60):
    """Run a client script in its own Python process and return what it printed.

    The script starts in ``cwd``, as a reader's shell would, after lines that
    name the worker (``worker_node``) and send taskrunner's tasks to ``queue``
    (with ``queue=None``, the script imports nothing of its own accord).
    """
    prologue = f"worker_node = {node!r}\n"
    if queue is not None:
        prologue += f"import taskrunner\ntaskrunner.app.conf.task_default_queue = {queue!r}\n"
    completed = subprocess.run(
        [sys.executable, "-c", prologue + code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise AssertionError(f"the client script failed:\n{completed.stderr}")
    return completed.stdout.strip()


def run_from_copy(day, destination, code, *, prepare=None, elsewhere=None):
    """Copy ``day``'s folder to ``destination``, run the README's worker command there, run ``code``.

    This is the copy-as-template use: nothing of the course is needed but the
    copy, and the worker is ``celery -A taskrunner worker -l INFO`` on Celery's
    default queue, as a reader starts it (so tests that use this must not run
    at the same time: mark them ``default_queue``). ``prepare(copy)`` may change
    the copy before the worker starts. With ``elsewhere``, worker and client
    start in that folder instead, with the copy on ``PYTHONPATH``. Returns what
    ``code`` printed.
    """
    copy = shutil.copytree(REPO / day, destination, ignore=shutil.ignore_patterns("__pycache__"))
    if prepare:
        prepare(copy)
    # These tests check values, not states: the shortest delay will do.
    cwd, env = copy, {"TASK_DELAY": "0"}
    if elsewhere:
        cwd, env = elsewhere, {**env, "PYTHONPATH": str(copy)}
    worker = DayWorker(day, folder=copy, cwd=cwd, queue=DEFAULT_QUEUE, env=env)
    worker.purge()
    worker.start()
    try:
        return run_client(code, cwd=cwd, queue=worker.queue, node=worker.node, env=env)
    finally:
        # The next test may start its worker while this one's pool winds down.
        worker.stop(wait=False)


def record_redis_commands(app, monkeypatch):
    """From now on, the name of every command ``app`` sends to its Redis result store.

    Returns the list that fills up: how many round trips a read makes is
    counted, not timed.
    """
    if embedded():
        pytest.skip("the embedded stack keeps results in files: there are no Redis round trips")
    client = app.backend.client
    commands = []
    original = client.execute_command

    def recording(*args, **options):
        commands.append(args[0])
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", recording)
    return commands


def database_url(settings):
    """``DATABASE_URL`` for the database of Django's connection ``settings``.

    In a test, after pytest-django has set the test database up, that is the
    test database: an API worker started with it writes its steps where the
    test reads them.
    """
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings['NAME']}"
    user = quote(settings["USER"] or "")
    password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    host = f"{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}"
    return f"postgres://{user}{password}@{host}/{quote(settings['NAME'])}"


@contextlib.contextmanager
def api_worker(name, *, env=None, options=()):
    """The API's worker, on a queue of its own and on the test database, while the block runs.

    The API's app sends its steps to that queue meanwhile, and the worker
    writes them where the test reads them. Use it in a module-scoped fixture
    that depends on ``django_db_setup``, so that the test database exists.
    """
    from django.db import connection

    from config import celery_app

    from .api import API

    env = {"DATABASE_URL": database_url(connection.settings_dict), **(env or {})}
    worker = DayWorker(
        "api", folder=API, app="config", queue=unique_queue(name), env=env, options=options
    )
    default_queue = celery_app.conf.task_default_queue
    # Before the first message is sent: the API's steps go to this worker.
    celery_app.conf.task_default_queue = worker.queue
    try:
        yield worker.start()
    finally:
        # As for a day's worker: ask it to stop, and go on without waiting.
        worker.stop(wait=False)
        celery_app.conf.task_default_queue = default_queue
        worker.delete_queue()


def manage(*arguments, env):
    """``python manage.py ...`` in api/, with ``env`` (a served stack's, say); its output."""
    from .api import API

    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=API, env={**os.environ, **env}, check=True, capture_output=True, text=True,
        timeout=60,
    ).stdout  # fmt: skip


@contextlib.contextmanager
def served(name, folder, env=None):
    """``make serve`` in the background (``sprout.serve.Served``) while the block runs.

    Its database is a SQLite file in ``folder`` and its steps travel on a
    queue of their own, removed afterwards; ``env`` adds to its environment.
    What it printed is printed at the end, for pytest to show when a test failed.
    """
    from .serve import Served
    from .services import broker_connection

    env = {
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "CELERY_TASK_DEFAULT_QUEUE": unique_queue(name),
        **(env or {}),
    }
    try:
        with Served(env) as stack:
            yield stack
            print(stack.output())
    finally:
        with broker_connection() as connection:
            connection.default_channel.queue_delete(env["CELERY_TASK_DEFAULT_QUEUE"])


def wait_for_state(row, states, timeout=10):
    """``row`` (a step of the API), read again until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while row.state not in states:
        assert time.monotonic() < deadline, row
        time.sleep(0.02)
        row.refresh_from_db()
    return row


class Terminal(io.StringIO):
    """An output that says it is a terminal, for code that draws differently on one."""

    def isatty(self):
        return True


def task_log(worker, task_id, count=1, timeout=30):
    """What a task's own logger wrote in the worker's log, once there are ``count`` lines.

    The worker writes each line as ``name[task id]: message``; this returns
    the messages, in order.
    """
    marker = f"[{task_id}]: "
    deadline = time.monotonic() + timeout
    while True:
        lines = [line.partition(marker)[2] for line in worker.log().splitlines() if marker in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


FINISHED = {"SUCCESS", "FAILURE", "REVOKED"}


def wait_until_finished(client, url, timeout=30):
    """Read a workflow through the API until its state is final; return the last reading.

    ``client.get(url).json()`` reads it: a Django test client or ``requests``-like object.
    """
    deadline = time.monotonic() + timeout
    while True:
        workflow = client.get(url).json()
        if workflow["state"] in FINISHED:
            return workflow
        if time.monotonic() > deadline:
            raise AssertionError(f"the workflow has not finished within {timeout} s: {workflow}")
        time.sleep(0.05)
