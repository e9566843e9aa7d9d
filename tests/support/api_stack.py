"""The API's processes for a test: its worker on the test database, ``make serve``, ``manage.py``."""

import contextlib
import hashlib
import subprocess
import sys
from urllib.parse import quote

from sprout import DayWorker
from sprout.api import API, api_env
from sprout.serve import Served
from sprout.services import broker_connection
from sprout.worker import API_QUEUE_VARIABLES, api_queues

from .days import unique_queue
from .webhooks import WORKER_ENV as WEBHOOKS_WORKER_ENV


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


#: The environment of the API's worker for the modules that need no delay of
#: their own: steps of 0.2 s (a step can be caught running, and cancelled),
#: and the tests' webhooks. Those modules share one worker.
SHARED_WORKER_ENV = {"TASK_DELAY": "0.2", **WEBHOOKS_WORKER_ENV}


def worker_key(env, options=()):
    """What tells one API worker of the tests from another: its environment and its options,
    as a short name. Modules that ask for the same share one worker (conftest.py), in one
    process (xdist_groups.py)."""
    text = "\n".join([*(f"{name}={value}" for name, value in sorted(env.items())), *options])
    return "api-worker-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def start_api_worker(name, *, env=None, options=()):
    """The API's worker, on queues of its own and on the test database, started.

    It writes the steps where the tests read them. Call it once the test
    database exists (after ``django_db_setup``), and ``send_to`` it before a
    module's first message; ``stop_api_worker`` at the end of the session.
    """
    from django.db import connection

    env = {"DATABASE_URL": database_url(connection.settings_dict), **(env or {})}
    worker = DayWorker(
        "api", folder=API, app="config", queue=unique_queue(name), env=env, options=options
    )
    return worker.start()


def send_to(worker):
    """Make what the API sends in this process go to ``worker``'s queues, as config/settings.py
    routes it from the variables: the steps, the webhooks, the maintenance."""
    from config import celery_app

    steps, notifications, maintenance = worker.queues
    celery_app.conf.update(
        task_default_queue=steps,
        task_routes={
            "webhooks.*": {"queue": notifications},
            "maintenance.*": {"queue": maintenance},
        },
    )


def stop_api_worker(worker):
    worker.stop()
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
    queues = api_queues(unique_queue(name))
    env = {
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        **dict(zip(API_QUEUE_VARIABLES, queues, strict=True)),
        **(env or {}),
    }
    try:
        with Served(env) as stack:
            yield stack
            print(stack.output())
    finally:
        with broker_connection() as connection:
            for queue in queues:
                connection.default_channel.queue_delete(queue)


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
    """A new user of ``stack``, who is not staff, and their token, made as api/README.md's
    "Before you deploy" makes them."""
    create_user = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({username!r}, password='a-password-for-the-test')"
    )
    manage("shell", "-c", create_user, env=stack.env)
    # "Generated token <key> for user <username>"
    return manage("drf_create_token", username, env=stack.env).split()[2]
