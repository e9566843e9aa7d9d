"""Day 6: every step's state of a workflow, in order, in one round trip; Flower's API."""

import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from celery import chain

from sprout import REPO
from sprout.flower import Flower
from sprout.services import embedded
from sprout.worker import queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_on_terminal,
    run_script,
)
from tests.support.recording import record_redis_commands

DAY = "day6"
# Only what the steps return counts here; test_day6_watch.py watches them run.
TASK_DELAY = "0.1"


@pytest.fixture(scope="module")
def status(day):
    return day.module("status")


@pytest.fixture(scope="module")
def workflows(day):
    return day.module("workflows")


def test_step_ids_lists_the_steps_in_workflow_order(day, status, workflows):
    result = workflows.dependent_chain().apply_async()
    result.get(timeout=60)
    ids = status.step_ids(result)
    assert ids[-1] == result.id
    assert [day.app.AsyncResult(task_id).get() for task_id in ids] == [2.0, 6.0, 12.0, 10.0]


def test_watch_stops_when_a_step_fails(day, status):
    arithmetic = day.module("taskrunner.tasks.arithmetic")
    result = chain(arithmetic.div.s(1, 0), arithmetic.mul.s(3), arithmetic.add.s(1)).apply_async()
    steps = status.watch(["div", "mul", "add"], status.step_ids(result), out=io.StringIO())
    assert steps[0] == {"state": "FAILURE", "result": "ZeroDivisionError: division by zero"}


def test_one_round_trip_reads_as_much_as_one_by_one(day, status, workflows):
    result = workflows.dependent_chain().apply_async()
    result.get(timeout=60)
    ids = [*status.step_ids(result), "an-id-nobody-issued"]
    one_by_one = status.states_one_by_one(ids)
    assert one_by_one == ["SUCCESS"] * 4 + ["PENDING"]
    assert [step["state"] for step in status.read_steps(ids)] == one_by_one


def test_read_steps_makes_one_round_trip_for_a_hundred_steps(day, status, monkeypatch):
    commands = record_redis_commands(day.app, monkeypatch)
    status.read_steps([f"step-{number}" for number in range(100)])
    assert commands == ["MGET"]


@pytest.mark.skipif(embedded(), reason="the benchmark times Redis: the live run has this test")
def test_the_benchmark_times_both_ways_of_reading_a_hundred_steps():
    printed = subprocess.run(
        [sys.executable, "benchmarks/status_reads.py", "--repeat", "2"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert printed.startswith("the states of a 100-step chain, best of 2\n")
    assert "one by one / one round trip: " in printed


def test_flower_reports_each_step_with_its_parent_root_and_children(day, status, workflows):
    # Terminal 3: the README's Flower, with its password (on a free port rather than 5555).
    block = readme_block(
        "day6/README.md", "FLOWER_BASIC_AUTH=student:sprout celery -A taskrunner flower"
    )
    ((assignment, *command),) = block.words
    with Flower(DAY) as flower:
        assert assignment == f"FLOWER_BASIC_AUTH={flower.user}:{flower.password}"
        assert Path(flower.process.args[0]).name == command[0]
        assert flower.process.args[1 : len(command)] == command[1:]
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"{flower.url}/api/tasks", timeout=10)
        result = workflows.dependent_chain().apply_async()
        result.get(timeout=60)
        first, second, *_ = ids = status.step_ids(result)
        deadline = time.monotonic() + 30
        while (last := flower.task_info(result.id))["state"] != "SUCCESS":
            assert time.monotonic() < deadline, last
            time.sleep(0.2)
        head = flower.task_info(first)
        # The README's curl, with the id of a task and Flower's port.
        curl = readme_block("day6/README.md", "curl -u student:sprout http://localhost:5555/")
        port = {"localhost:5555": f"localhost:{flower.port}"}
        answer = json.loads(run_script(curl, replacing=port, task_id=result.id).stdout)
        assert (answer["uuid"], answer["state"]) == (result.id, "SUCCESS")
    assert last["result"] == "10.0"
    assert last["parent_id"] == ids[-2]
    assert last["root_id"] == first
    assert head["state"] == "SUCCESS"
    assert head["result"] == "2.0"
    assert head["parent_id"] is None
    assert head["children"] == [second]


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    printed = run_from_copy(DAY, tmp_path / "my-project", "import status\nstatus.main()")
    assert "sub    SUCCESS 10.0" in printed.splitlines()
    assert "result: 10.0" in printed.splitlines()


def test_the_readmes_worker_is_the_one_these_tests_start(day):
    assert_starts_the_worker(
        readme_block("day6/README.md", "celery -A taskrunner worker -l INFO"), day.worker
    )


def test_the_readmes_second_terminal_shows_the_table_it_shows(day):
    # On a terminal, as the reader runs it: the table drawn again in place, then the result.
    block = readme_block("day6/README.md", "python status.py")
    assert_prints(block, run_on_terminal(block, cwd=day.folder, env=queue_env(day.queue)))
