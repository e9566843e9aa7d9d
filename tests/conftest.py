"""Fixtures shared by every day's tests.

A test module names its lesson (``DAY = "day1"``) and asks for the ``day``
fixture: the day's ``taskrunner`` imported in this process, and its worker
running from the day's folder against the live broker and result store.
"""

import pytest

from sprout import testing
from sprout.testing import Day


@pytest.fixture(scope="module")
def day(request):
    with Day(request.module.DAY) as running:
        yield running


# The API's tests. A module that asks for ``api`` (``pytest.mark.usefixtures("api")``)
# gets the API's worker, started from api/ on a queue of the module's own and on
# the test database, with the module's API_WORKER_ENV (its TASK_DELAY) and
# API_WORKER_OPTIONS.


@pytest.fixture(scope="module")
def api_worker(request, django_db_setup):
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    env = request.module.API_WORKER_ENV
    options = getattr(request.module, "API_WORKER_OPTIONS", ())
    with testing.api_worker(name, env=env, options=options) as worker:
        yield worker


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
    without DJANGO_SECRET_KEY), and no limit on starts that a person would
    hit: the tests start workflows faster than that. The test of the limit
    sets its own rate."""
    from django.conf import settings

    settings.SECRET_KEY = "a-key-for-the-tests-only-" + "x" * 40
    settings.API_START_RATE = "100000/minute"
