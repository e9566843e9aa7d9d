"""Fixtures shared by every day's tests.

A test module names its lesson (``DAY = "day1"``) and asks for the ``day``
fixture: the day's ``taskrunner`` imported in this process, and its worker
running from the day's folder against the live broker and result store. A
module whose tests check what tasks return, not the states they go through,
gives its worker a shorter ``TASK_DELAY`` than the suite's.
"""

import pytest

from tests.support import api_stack
from tests.support.days import Day


@pytest.fixture(scope="module")
def day(request):
    delay = getattr(request.module, "TASK_DELAY", None)
    with Day(request.module.DAY, env={"TASK_DELAY": delay} if delay else None) as running:
        yield running


# The API's tests. A module that asks for ``api`` (``pytest.mark.usefixtures("api")``)
# gets the API's worker, started from api/ on queues of its own and on the
# test database, with the module's API_WORKER_ENV (its TASK_DELAY) and
# API_WORKER_OPTIONS. Modules that ask for the same environment and options
# share one worker: they run in one process (tests/support/xdist_groups.py),
# and the worker starts once.


@pytest.fixture(scope="session")
def api_workers(django_db_setup):
    """The API's workers of this process, by ``api_stack.worker_key``; stopped, and waited
    for, before the test database goes (PostgreSQL drops no database that a worker is
    still connected to)."""
    workers = {}
    yield workers
    for worker in workers.values():
        api_stack.stop_api_worker(worker)


@pytest.fixture(scope="module")
def api_worker(request, api_workers):
    env = request.module.API_WORKER_ENV
    options = getattr(request.module, "API_WORKER_OPTIONS", ())
    key = api_stack.worker_key(env, options)
    if key not in api_workers:
        name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
        api_workers[key] = api_stack.start_api_worker(name, env=env, options=options)
    worker = api_workers[key]
    # Before the module's first message: what the API sends goes to this worker.
    api_stack.send_to(worker)
    return worker


@pytest.fixture
def api(api_worker):
    """The API's worker, with the API's app the current one: a day's tests make
    their own app current in this process, and the API's shared tasks must
    resolve to the API's app."""
    from config import celery_app

    celery_app.set_current()
    return api_worker


# A Django test client signed in as a member of staff, who
# sees every workflow, those the tests start with runs.jobs too. The tests of
# who may see what make users of their own.


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        "reader", password="a-reader's-password", is_staff=True
    )


@pytest.fixture
def client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def pytest_configure():
    """A key to sign the test client's sessions with (settings.py has none
    without DJANGO_SECRET_KEY), no limit on starts that a person would hit
    (the tests start workflows faster than that; the test of the limit sets
    its own rate), and a quick password hasher.

    Django's own hasher, PBKDF2, takes about 0.4 s of CPU on purpose, for every
    user made and every login; the tests here make a user for nearly every
    test. Django's documentation advises a quick hasher for tests ("Speeding
    up the tests"). The servers the tests start keep Django's.
    """
    from django.conf import settings

    if not settings.configured:
        return  # pytest-django is off (make test DAY=4): no test here uses Django.
    settings.SECRET_KEY = "a-key-for-the-tests-only-" + "x" * 40
    settings.API_START_RATE = "100000/minute"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
