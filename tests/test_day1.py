"""Day 1: the package layout, Redis for results, and the STARTED state."""

import time

import pytest
from celery.states import READY_STATES

from sprout import REPO
from sprout.worker import queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_script,
    run_session,
)

DAY = "day1"


def states_until_ready(result, timeout=30):
    """Every state the task goes through, in order, each once."""
    states = [result.state]
    deadline = time.monotonic() + timeout
    # Decide on the state just read: asking ready() separately could skip the last one.
    while states[-1] not in READY_STATES:
        assert time.monotonic() < deadline, f"still {states[-1]} after {timeout} s"
        time.sleep(0.01)
        state = result.state
        if state != states[-1]:
            states.append(state)
    return states


def test_the_app_lives_in_celery_py_and_is_exported(day):
    assert day.app is day.module("taskrunner.celery").app
    assert day.app.conf.include == ["taskrunner.tasks"]


def test_apply_async_returns_the_sum(day):
    add = day.module("taskrunner.tasks").add
    assert add.apply_async((2, 2)).get(timeout=30) == 4


def test_the_task_goes_through_pending_started_success(day):
    add = day.module("taskrunner.tasks").add
    # A second's countdown: the worker holds the task before it starts it, so
    # PENDING is seen however fast the worker is.
    result = add.apply_async((2, 2), countdown=1)
    assert states_until_ready(result) == ["PENDING", "STARTED", "SUCCESS"]
    assert result.get() == 4


def test_any_process_can_look_a_result_up_by_id(day):
    result = day.module("taskrunner.tasks").add.delay(20, 22)
    assert result.get(timeout=30) == 42
    lookup = (
        f"result = taskrunner.app.AsyncResult({result.id!r}); print(result.state, result.get())"
    )
    assert day.client(lookup) == "SUCCESS 42"


def test_only_json_is_accepted(day):
    assert day.app.conf.accept_content == ["json"]
    assert day.app.conf.task_serializer == "json"


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    code = "from taskrunner.tasks import add\nprint(add.apply_async((2, 2)).get(timeout=30))"
    assert run_from_copy(DAY, tmp_path / "my-project", code) == "4"


def test_the_readmes_worker_is_the_one_these_tests_start(day):
    assert_starts_the_worker(
        readme_block("day1/README.md", "celery -A taskrunner worker -l INFO"), day.worker
    )
    # The course's README starts day 1's worker the same way, from the repository.
    assert_starts_the_worker(readme_block("README.md", "cd day1\ncelery"), day.worker)


def test_the_readmes_session_prints_what_it_shows_and_celery_result_reads_it(day):
    # Terminal 2 at the tutorial's pace: the task has started by the time the reader asks.
    first = readme_block("day1/README.md", ">>> from taskrunner.tasks import add")
    then = readme_block("day1/README.md", ">>> result.id")
    printed = run_session([first, then], cwd=day.folder, env=queue_env(day.queue), settle=True)
    assert_prints(first, printed, shown=[*first.lines, *then.lines])
    task_id = printed.splitlines()[-1].strip("'")
    # Terminal 3: Celery's result command, with that id.
    lookup = readme_block("day1/README.md", "celery -A taskrunner result ")
    example = {"843b6477-0762-464b-a043-7265d9e1997d": task_id}
    done = run_script(lookup, cwd=day.folder, replacing=example)
    assert done.stdout == "4\n"


def test_the_course_readmes_second_terminal_prints_4(day):
    block = readme_block("README.md", "cd day1\npython -c")
    assert run_script(block, cwd=REPO, env=queue_env(day.queue)).stdout == "4\n"
