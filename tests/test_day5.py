"""Day 5: a base class whose hooks log every task's life; named tasks; send_task."""

import re
import time

import pytest

from sprout.worker import queue_env
from tests.support.clients import run_client, run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    log_lines,
    readme_block,
    run_script,
)
from tests.support.recording import task_log

DAY = "day5"
# These tests check what tasks return, not the states they go through.
TASK_DELAY = "0.1"

NAMES = {
    "arithmetic.add",
    "arithmetic.sub",
    "arithmetic.mul",
    "arithmetic.div",
    "arithmetic.difference",
    "text.count_words",
}


def test_every_task_of_the_app_is_a_logged_task(day):
    # In a new process, which has imported no other day's tasks.
    code = (
        "from taskrunner.base import LoggedTask\n"
        "taskrunner.app.loader.import_default_modules()\n"
        "tasks = {n: t for n, t in taskrunner.app.tasks.items() if not n.startswith('celery.')}\n"
        "print(sorted(tasks))\n"
        "print(all(isinstance(task, LoggedTask) for task in tasks.values()))"
    )
    names, all_logged = day.client(code).splitlines()
    assert names == str(sorted(NAMES))
    assert all_logged == "True"


def test_the_worker_knows_the_tasks_by_their_explicit_names(day):
    assert day.registered() >= NAMES


def test_a_task_that_succeeds_logs_start_success_and_end(day):
    add = day.module("taskrunner.tasks.arithmetic").add
    result = add.delay(2, 3)
    assert result.get(timeout=30) == 5
    assert task_log(day.worker, result.id, 3) == [
        "started with args=(2, 3) kwargs={}",
        "succeeded: 5",
        "ended in state SUCCESS",
    ]


def test_a_task_that_fails_logs_start_failure_and_end(day):
    div = day.module("taskrunner.tasks.arithmetic").div
    result = div.delay(1, 0)
    with pytest.raises(ZeroDivisionError):
        result.get(timeout=30)
    assert task_log(day.worker, result.id, 3) == [
        "started with args=(1, 0) kwargs={}",
        "failed: ZeroDivisionError('division by zero')",
        "ended in state FAILURE",
    ]
    assert re.search(rf"ERROR/\S+\] arithmetic\.div\[{result.id}\]: failed", day.worker.log())


def test_send_task_runs_tasks_by_name_from_code_that_does_not_import_them(day, tmp_path):
    # A folder where the taskrunner package cannot be imported: only the client's file.
    (tmp_path / "send_by_name.py").write_text((day.folder / "send_by_name.py").read_text())
    code = (
        "import sys\n"
        "import send_by_name\n"
        f"send_by_name.client.conf.task_default_queue = {day.queue!r}\n"
        "send_by_name.main()\n"
        "print('taskrunner' in sys.modules)"
    )
    printed = run_client(code, cwd=tmp_path, queue=None, env={"PYTHONPATH": ""})
    block = readme_block("day5/README.md", "python send_by_name.py")
    assert_prints(block, printed, shown=[*block.output, "False"])


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    printed = run_from_copy(
        DAY, tmp_path / "my-project", "import send_by_name\nsend_by_name.main()"
    )
    assert printed.splitlines()[0] == "arithmetic.add(2, 3) = 5"


def test_the_readmes_worker_is_the_one_these_tests_start(day):
    assert_starts_the_worker(
        readme_block("day5/README.md", "celery -A taskrunner worker -l INFO"), day.worker
    )


def test_the_readmes_second_terminal_prints_what_it_shows_and_the_worker_logs_it(day):
    block = readme_block("day5/README.md", "python send_by_name.py")
    before = len(day.worker.log())
    assert_prints(block, run_script(block, cwd=day.folder, env=queue_env(day.queue)).stdout)
    # Terminal 1: the hooks' lines among Celery's own, without their time and process, and
    # without count_words's, which run beside add's.
    shown = block.shown_after("Task arithmetic.add[")
    deadline = time.monotonic() + 30
    while "arithmetic.div[" not in (log := day.worker.log()[before:]) or not log.rstrip().endswith(
        "ended in state FAILURE"
    ):
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    logged = [line for line in log_lines(log) if "text.count_words[" not in line]
    # add's lines, then div's, as the README shows them: the script sends div once add's
    # result is stored, which Celery does just before on_success, so div's "received" may
    # come among add's last lines (the README says so).
    logged = [line for line in logged if "arithmetic.add[" in line] + [
        line for line in logged if "arithmetic.add[" not in line
    ]
    assert_prints(block, "\n".join(logged), shown=shown.lines)
