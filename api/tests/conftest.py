"""The API's tests run against a real broker, a real result store and a real Celery worker.

The broker and the result store are the ones settings.py names (from
CELERY_BROKER_URL and CELERY_RESULT_BACKEND; RabbitMQ and Redis on this
machine without them). The worker is Celery's own test worker
(``celery.contrib.testing.worker.start_worker``): a real worker, which takes
each message from the broker, decodes it and runs it, started in a thread of
this process so that it runs the code under test, and the test database.
"""

import uuid

# Celery's test worker checks that it works by sending it Celery's own test
# task, celery.ping, and waiting for its "pong". That task is defined in
# celery.contrib.testing.tasks, which nothing imports for you: without this
# import, start_worker fails at once on `assert 'celery.ping' in app.tasks`
# (celery.contrib.pytest's celery_worker fixture raises NotRegistered:
# 'celery.ping', Celery issue #4851). Imported before the worker starts, the
# shared task joins the project's app. The check is worth keeping
# (perform_ping_check=True, the default): it proves, before any test runs,
# that the worker reads the queue the tests send to and that results come
# back through the result store.
import celery.contrib.testing.tasks  # noqa: F401
import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from kombu import Queue

from config import celery_app
from runs import tasks

# A queue of this run's own. Every worker on the same broker that reads the
# API's default queue ("workflows") would otherwise take the tests' steps:
# one started by hand beside the tests, or the tests of another checkout. The
# settings were read before this file (pytest-django sets Django up first), so
# the name is given to the app itself; the queue is deleted by the broker a
# minute after its last use (x-expires), so runs leave none behind.
QUEUE = f"api-tests-{uuid.uuid4().hex[:12]}"
# Given here, as the tests are collected, before any test sends a message:
# the app reads its queues once, the first time it sends one.
celery_app.conf.update(task_default_queue=QUEUE, task_queues=[Queue(QUEUE, expires=60)])


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, the test database is a file rather than memory.

    The worker runs in a thread of its own, and Django gives each thread a
    connection of its own: the worker's must open the very database the test
    wrote to. Django's in-memory test database does that through SQLite's
    shared cache, which locks whole tables: a worker that writes while a test
    reads fails now and then with "database table is locked". A file in a
    temporary folder serves every connection, in write-ahead-log mode as
    settings.py asks. PostgreSQL (DATABASE_URL) needs nothing: every connection sees the
    test database.
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        folder = tmp_path_factory.mktemp("database")
        database["TEST"] = {**database.get("TEST", {}), "NAME": str(folder / "test.sqlite3")}


@pytest.fixture(scope="session", autouse=True)
def quick_steps():
    """Steps that do not sleep: each sleeps TASK_DELAY seconds (5) so that a person can
    watch it run. The worker runs in this process, so it sees the change too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks, "TASK_DELAY", 0)
        yield


@pytest.fixture(scope="session")
def celery_worker(django_db_setup):
    """One Celery worker for the whole session, reading this run's queue only.

    One for the session, not one per test: a worker started again in the same
    process after another has stopped can hang (Celery issue #5105, "celery_worker
    fixture hangs in second test", whose workaround is celery_session_worker),
    and each start takes a good part of a second. It asks for django_db_setup
    so that it stops before the test database is destroyed.

    The threads pool runs each step in a thread of the worker's own, with a
    database connection of that thread's own: the tests that use the worker
    commit what they write (``django_db(transaction=True)``), since no other
    connection can see a test's open transaction. (The solo pool, start_worker's
    default, runs each step inside the worker's event loop; here, with steps
    acknowledged late, the next step of a chain then sometimes waited seconds
    before the worker took it.)

    At the end, the worker is told to shut down as any worker can be
    (``control.shutdown``): the message wakes its event loop at once, which
    otherwise notices that start_worker asks it to stop only when it next
    wakes, up to seconds later.
    """
    with start_worker(celery_app, pool="threads", queues=[QUEUE]) as worker:
        yield worker
        celery_app.control.shutdown(destination=[worker.hostname])
