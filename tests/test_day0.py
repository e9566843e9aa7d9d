"""Day 0: a first task, on RabbitMQ with the rpc:// result backend."""

import time

import pytest

from sprout.services import embedded
from sprout.worker import queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_session,
)

DAY = "day0"

rpc_backend = pytest.mark.skipif(
    embedded(), reason="the embedded stack keeps day 0's results in files too: rpc:// is not used"
)


def test_delay_runs_the_task_on_the_worker(day):
    add = day.module("taskrunner").add
    result = add.delay(4, 4)
    assert result.ready() is False
    assert result.get(timeout=30) == 8
    assert result.ready() is True


def test_apply_async_takes_args_and_kwargs(day):
    add = day.module("taskrunner").add
    assert add.apply_async(args=(2, 3)).get(timeout=30) == 5
    assert add.apply_async(kwargs={"x": 10, "y": 5}).get(timeout=30) == 15


@rpc_backend
def test_rpc_backend_reports_pending_while_the_task_runs(day):
    add = day.module("taskrunner").add
    result = add.delay(1, 1)
    deadline = time.monotonic() + 30
    while f"[{result.id}] received" not in day.worker.log():
        assert time.monotonic() < deadline, "the worker never received the task"
        time.sleep(0.01)
    assert result.state == "PENDING"
    assert result.get(timeout=30) == 2
    assert result.state == "SUCCESS"


@rpc_backend
def test_rpc_results_reach_only_the_caller(day):
    result = day.module("taskrunner").add.delay(2, 2)
    assert result.get(timeout=30) == 4
    # Another process asks for the same id: the result went to our reply queue, not to it.
    assert day.client(f"print(taskrunner.app.AsyncResult({result.id!r}).state)") == "PENDING"


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    code = "print(taskrunner.add.delay(4, 4).get(timeout=30))"
    assert run_from_copy(DAY, tmp_path / "my-first-task", code) == "8"


def test_the_readmes_worker_is_the_one_these_tests_start(day):
    assert_starts_the_worker(
        readme_block("day0/README.md", "celery -A taskrunner worker -l INFO"), day.worker
    )


def test_the_readmes_session_prints_what_it_shows(day):
    # Terminal 2: one session, typed in the day's folder.
    first = readme_block("day0/README.md", ">>> from taskrunner import add")
    then = readme_block("day0/README.md", ">>> add.apply_async(args=(2, 3)).get()")
    printed = run_session([first, then], cwd=day.folder, env=queue_env(day.queue))
    assert_prints(first, printed, shown=[*first.lines, *then.lines])
