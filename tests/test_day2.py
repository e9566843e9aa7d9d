"""Day 2: several task modules, listed in the app's include."""

import pytest

from sprout.worker import queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_session,
)

DAY = "day2"
# These tests check what tasks return, not the states they go through.
TASK_DELAY = "0.1"

TASKS = {"taskrunner.arithmetic.add", "taskrunner.arithmetic.sub", "taskrunner.text.count_words"}


def test_include_lists_both_task_modules(day):
    assert day.app.conf.include == ["taskrunner.arithmetic", "taskrunner.text"]


def test_the_worker_registers_the_tasks_of_every_included_module(day):
    assert TASKS <= day.registered()


def test_tasks_from_both_modules_run(day):
    arithmetic = day.module("taskrunner.arithmetic")
    text = day.module("taskrunner.text")
    results = [
        arithmetic.add.delay(2, 3),
        arithmetic.sub.delay(10, 4),
        text.count_words.delay("to be or not to be"),
    ]
    assert [result.get(timeout=30) for result in results] == [5, 6, 6]


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    code = (
        "from taskrunner.text import count_words\n"
        "print(count_words.delay('to be or not to be').get(timeout=30))"
    )
    assert run_from_copy(DAY, tmp_path / "my-project", code) == "6"


def test_the_readmes_worker_and_session_run_as_written(day):
    worker = readme_block("day2/README.md", "celery -A taskrunner worker -l INFO")
    assert_starts_the_worker(worker, day.worker)
    block = readme_block("day2/README.md", ">>> from taskrunner.arithmetic import add, sub")
    assert_prints(block, run_session([block], cwd=day.folder, env=queue_env(day.queue)))
