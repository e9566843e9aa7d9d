"""Fixtures shared by every day's tests.

A test module names its lesson (``DAY = "day1"``) and asks for the ``day``
fixture: the day's ``taskrunner`` imported in this process, and its worker
running from the day's folder against the live broker and result store.
"""

import os

import pytest

from sprout import check_services
from sprout.testing import Day

# Tasks sleep TASK_DELAY seconds; a short delay keeps the suite quick while
# every state (PENDING, STARTED, SUCCESS) can still be seen.
os.environ.setdefault("TASK_DELAY", "0.5")


def pytest_sessionstart(session):
    problems = check_services()
    if problems:
        message = "The course's tests need a live broker and result store.\n" + "\n".join(problems)
        pytest.exit(message, returncode=3)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # With `--dist loadgroup`, the tests of one day's worker run in one xdist
    # process (the worker starts once), other tests wherever there is room, and
    # the notebooks one after another: like a reader's, their workers all read
    # Celery's default queue.
    for item in items:
        if item.path.suffix == ".ipynb":
            group = "notebooks"
        elif "day" in getattr(item, "fixturenames", ()):
            group = item.path.stem
        else:
            group = f"{item.path.stem}::{item.name}"
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="module")
def day(request):
    with Day(request.module.DAY) as running:
        yield running
