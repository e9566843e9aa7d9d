"""What every test run needs, whether it collects tests/, notebooks/ or both."""

import json
import os

import nbval.kernel
import nbval.plugin
import pytest
from kombu.utils.url import maybe_sanitize_url

from sprout import check_services
from sprout.services import broker_url, embedded, result_backend_url
from tests.support import xdist_groups

# Tasks sleep TASK_DELAY seconds; a short delay keeps the suite quick while
# every state (PENDING, STARTED, SUCCESS) can still be seen, in the notebooks
# too. The tests that check only what tasks return give their workers less.
os.environ.setdefault("TASK_DELAY", "0.5")

# pytest-django has already set Django up for the API's tests, from
# DJANGO_SETTINGS_MODULE in pyproject.toml (or from --ds: make test-embedded
# names sprout.embedded_api). Out of the environment, it reaches
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


setup_notebook = nbval.plugin.IPyNbFile.setup


def setup_notebook_with_its_task_delay(self):
    """nbval's start of a notebook's kernel, with the task delay the notebook needs.

    A notebook whose checked outputs show a task before it has finished
    (``PENDING``, ``STARTED``) keeps the suite's delay; any other shows only
    what tasks return, and its kernel, with the worker it starts, gets the
    delay of the tests that check only that.
    """
    suite_delay = os.environ["TASK_DELAY"]
    os.environ["TASK_DELAY"] = suite_delay if shows_states(self.nb) else "0.1"
    try:
        setup_notebook(self)
    finally:
        os.environ["TASK_DELAY"] = suite_delay


def shows_states(notebook):
    checked = [
        cell.get("outputs", [])
        for cell in notebook.cells
        if cell.cell_type == "code" and "NBVAL_IGNORE_OUTPUT" not in cell.source
    ]
    text = json.dumps(checked)
    return "PENDING" in text or "STARTED" in text


nbval.plugin.IPyNbFile.setup = setup_notebook_with_its_task_delay


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


def stack():
    """Which stack this run is on, for the first and the last lines of its report:
    make test runs two, and prints their reports one under the other."""
    if embedded():
        from sprout.embedded import FOLDER

        return f"the embedded stack, in {FOLDER}"
    return f"RabbitMQ + Redis, {maybe_sanitize_url(broker_url())} and {result_backend_url()}"


def api_settings():
    """The settings module of the API's tests, or None where pytest-django is off."""
    from django.conf import settings

    return settings.SETTINGS_MODULE if settings.configured else None


def tier(config):
    """Which of the two tiers this run is, from its marker expression (the Makefile's)."""
    expression = config.getoption("markexpr") or ""
    if "not starts" in expression:
        return "make test (no test that starts a stack of its own)"
    if expression.startswith("starts"):
        return "make check (the tests that start stacks of their own)"
    if expression in {"", "not soak"}:
        return "every test but the soak"
    return f"the tests chosen by -m {expression!r}"


def pytest_report_header(config):
    return [f"tier: {tier(config)}", f"stack: {stack()}"]


def pytest_terminal_summary(terminalreporter, config):
    # The last line before the summary of failures: what ran, and where.
    terminalreporter.write_sep("-", f"{tier(config)}, on {stack()}")


def pytest_sessionstart(session):
    if embedded() and api_settings() == "config.settings":
        # The API's own settings name RabbitMQ and Redis: its tests would send
        # their steps where the API's workers, on the embedded stack, never look.
        pytest.exit(
            "The API's tests on the embedded stack need its settings for that stack: "
            "pytest --ds=sprout.embedded_api (make test-embedded gives it).",
            returncode=4,
        )
    problems = check_services()
    if problems:
        message = "The course's tests need a live broker and result store.\n" + "\n".join(
            map(str, problems)
        )
        pytest.exit(message, returncode=3)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    """Give each test its xdist group before any other plugin sees them (a test
    that names its group keeps it); after them all (pytest-django puts the
    tests that use the database first), put the longest groups first."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(xdist_groups.group(item)))
    yield
    # xdist hands the groups out in this order (--no-loadscope-reorder: not
    # the largest first); the order within a group stays.
    items.sort(key=xdist_groups.item_rank)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        return xdist_groups.LongestFirstScheduling(config, log)
    return None
