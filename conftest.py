"""What every test run needs, whether it collects tests/, notebooks/ or both."""

import os

import nbval.kernel
import pytest

from sprout import check_services

# Tasks sleep TASK_DELAY seconds; a short delay keeps the suite quick while
# every state (PENDING, STARTED, SUCCESS) can still be seen.
os.environ.setdefault("TASK_DELAY", "0.5")

# pytest-django has already set Django up for the API's tests, from
# DJANGO_SETTINGS_MODULE in pyproject.toml. Out of the environment, it reaches
# none of the processes the tests start: Celery would otherwise load the API's
# Django settings into a day's worker, where they cannot be imported.
os.environ.pop("DJANGO_SETTINGS_MODULE", None)


start_kernel = nbval.kernel.start_new_kernel


def start_kernel_again_if_it_died(*args, **kwargs):
    """nbval's start of a notebook's kernel, tried up to three times.

    Jupyter picks free ports for a kernel, then the kernel binds them; with
    kernels, workers and servers starting side by side, another process can
    take one in between, and the kernel dies at once. A new start picks new ports.
    """
    for attempt in range(3):
        try:
            return start_kernel(*args, **kwargs)
        except RuntimeError:
            if attempt == 2:
                raise


nbval.kernel.start_new_kernel = start_kernel_again_if_it_died


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, the API's test database is a file rather than memory.

    The API's worker runs in a process of its own and writes every step into
    the test database, so it must be able to open it.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        folder = tmp_path_factory.mktemp("database")
        database["TEST"] = {**database.get("TEST", {}), "NAME": str(folder / "test.sqlite3")}


def pytest_sessionstart(session):
    problems = check_services()
    if problems:
        message = "The course's tests need a live broker and result store.\n" + "\n".join(
            map(str, problems)
        )
        pytest.exit(message, returncode=3)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # With `--dist loadgroup`, the tests of one day's worker (or the API's) run
    # in one xdist process (the worker starts once); the tests whose worker reads Celery's
    # default queue run one after another; every other test (each notebook's
    # cells together) wherever there is room.
    for item in items:
        if item.get_closest_marker("default_queue"):
            group = "default-queue"
        elif "day" in getattr(item, "fixturenames", ()) or item.path.stem.startswith("test_api"):
            group = item.path.stem
        elif item.path.suffix == ".ipynb":
            group = item.path.name
        else:
            group = f"{item.path.stem}::{item.name}"
        item.add_marker(pytest.mark.xdist_group(group))
    # xdist hands the groups out in this order: the longest first, so that none
    # is left to run alone at the end. The default-queue tests are one long
    # group, and so is each run of make demo; notebooks are slow to start. The
    # order within a group stays.
    items.sort(key=start_order)


def start_order(item):
    if item.get_closest_marker("default_queue") or item.path.stem == "test_demo":
        return 0
    return 1 if item.path.suffix == ".ipynb" else 2
