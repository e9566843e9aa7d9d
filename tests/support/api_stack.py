"""The API's processes for a test: its worker on the test database, ``make serve``, ``manage.py``."""

import contextlib
import subprocess
import sys
from urllib.parse import quote

from sprout import DayWorker
from sprout.api import API, api_env
from sprout.serve import Served
from sprout.services import broker_connection

from .days import unique_queue


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
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=API, env=api_env(env), check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip


@contextlib.contextmanager
def served(name, folder, env=None):
    """``make serve`` in the background (``sprout.serve.Served``) while the block runs.

    Its database is a SQLite file in ``folder`` and its steps travel on a
    queue of their own, removed afterwards; ``env`` adds to its environment.
    What it printed is printed at the end, for pytest to show when a test failed.
    """
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


@contextlib.contextmanager
def deployed(name, folder, env=None):
    """``served``, as the API is deployed (every request needs a user), with no delay in its
    steps and no limit on starts that a client of the tests would hit; ``env`` adds to that."""
    env = {
        "TASK_DELAY": "0",
        "API_ALLOW_ANONYMOUS": "0",
        "API_START_RATE": "100000/minute",
        **(env or {}),
    }
    with served(name, folder, env) as stack:
        yield stack


def token(stack, username):
    """A new user of ``stack``, who is not staff, and their token, made as the README's
    "Before you deploy" makes them."""
    create_user = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({username!r}, password='a-password-for-the-test')"
    )
    manage("shell", "-c", create_user, env=stack.env)
    # "Generated token <key> for user <username>"
    return manage("drf_create_token", username, env=stack.env).split()[2]
