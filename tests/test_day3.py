"""Day 3: task modules in sub-packages, found without listing them."""

from pathlib import Path

import pytest

from sprout import DayWorker
from sprout.worker import DEFAULT_QUEUE, queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_session,
)

DAY = "day3"
# These tests check what tasks return, not the states they go through.
TASK_DELAY = "0.1"

MODULES = ["taskrunner.tasks.arithmetic", "taskrunner.tasks.text.words"]

NEW_MODULE = '''
"""Averages: a task module that celery.py has never heard of."""

from taskrunner.celery import app


@app.task
def mean(values):
    return sum(values) / len(values)
'''


def test_detect_task_modules_finds_every_module_at_any_depth(day):
    detect_task_modules = day.module("taskrunner.discovery").detect_task_modules
    assert detect_task_modules("taskrunner.tasks") == MODULES
    assert day.app.conf.include == MODULES


def test_the_worker_registers_every_detected_task(day):
    expected = {
        "taskrunner.tasks.arithmetic.add",
        "taskrunner.tasks.arithmetic.sub",
        "taskrunner.tasks.text.words.count_words",
    }
    assert expected <= day.registered()


def test_detected_tasks_run(day):
    arithmetic = day.module("taskrunner.tasks.arithmetic")
    words = day.module("taskrunner.tasks.text.words")
    results = [arithmetic.sub.delay(9, 2), words.count_words.delay("a rose is a rose")]
    assert [result.get(timeout=30) for result in results] == [7, 5]


def add_statistics_module(copy):
    """Drop a new module two packages deep; celery.py stays as it is."""
    package = copy / "taskrunner" / "tasks" / "statistics" / "central"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "averages.py").write_text(NEW_MODULE)


@pytest.mark.default_queue
def test_a_new_module_is_found_by_a_worker_started_in_another_folder(tmp_path):
    # The README's worker in another folder: cd /tmp, the day's folder on PYTHONPATH.
    block = readme_block("day3/README.md", "cd /tmp")
    (cd, folder), (assignment, *command) = block.words
    assert (cd, folder) == ("cd", "/tmp")
    elsewhere = Path(folder)
    copy = tmp_path / "my-project"  # /path/to/day3
    name, _, value = assignment.partition("=")
    worker = DayWorker(DAY, folder=copy, cwd=elsewhere, queue=DEFAULT_QUEUE, env={name: value})
    assert worker.command[: len(command)] == command
    assert (name, value) == ("PYTHONPATH", "/path/to/day3")  # run_from_copy's elsewhere
    code = (
        "from taskrunner.tasks.statistics.central.averages import mean\n"
        "name = 'taskrunner.tasks.statistics.central.averages.mean'\n"
        "replies = taskrunner.app.control.inspect([worker_node], timeout=5).registered()\n"
        "print(name in replies[worker_node])\n"
        "print(mean.delay([1, 2, 3, 4]).get(timeout=30))"
    )
    printed = run_from_copy(DAY, copy, code, prepare=add_statistics_module, elsewhere=elsewhere)
    assert printed.splitlines() == ["True", "2.5"]


def test_the_readmes_worker_and_session_run_as_written(day):
    worker = readme_block("day3/README.md", "celery -A taskrunner worker -l INFO")
    assert_starts_the_worker(worker, day.worker)
    block = readme_block("day3/README.md", ">>> from taskrunner import app")
    assert_prints(block, run_session([block], cwd=day.folder, env=queue_env(day.queue)))
