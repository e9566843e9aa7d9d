"""Day 7: job data handed to every step; results passed on as keyword arguments."""

import inspect

import pytest

from sprout.worker import queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_script,
)
from tests.support.recording import task_log

DAY = "day7"
# These tests check what tasks return, not the states they go through.
TASK_DELAY = "0.1"

JOB_DATA = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}


@pytest.fixture(scope="module")
def jobs(day):
    return day.module("jobs")


def test_the_job_chain_returns_10(jobs):
    assert jobs.JOB_DATA == JOB_DATA
    assert jobs.job_chain(JOB_DATA).apply_async().get(timeout=60) == {"sub_result": 10.0}


def test_every_step_is_given_the_whole_job_data(jobs):
    workflow = jobs.job_chain(JOB_DATA)
    assert [step.kwargs for step in workflow.tasks] == [{"job_data": JOB_DATA}] * 4
    assert [step.args for step in workflow.tasks] == [()] * 4


def test_each_step_returns_a_dict_that_arrives_as_keyword_arguments(day, jobs):
    result = jobs.job_chain(JOB_DATA).apply_async()
    result.get(timeout=60)
    steps = []
    while result is not None:
        steps.insert(0, result)
        result = result.parent
    assert [step.get() for step in steps] == [
        {"div_result": 2.0},
        {"mul_result": 6.0},
        {"add_result": 12.0},
        {"sub_result": 10.0},
    ]
    assert (
        task_log(day.worker, steps[0].id)[0]
        == f"started with args=() kwargs={{'job_data': {JOB_DATA!r}}}"
    )
    assert task_log(day.worker, steps[1].id)[0] == (
        f"started with args=() kwargs={{'div_result': 2.0, 'job_data': {JOB_DATA!r}}}"
    )
    # As the README shows it, the job data left out.
    shown = readme_block("day7/README.md", "python jobs.py").shown_after("steps.mul[")
    logged = f"steps.mul[{steps[1].id}]: {task_log(day.worker, steps[1].id)[0]}"
    assert_prints(shown, logged, shown=shown.lines)


def test_steps_take_no_positional_parameter(day):
    steps = day.module("taskrunner.tasks.steps")
    for task in (steps.div, steps.mul, steps.add, steps.sub):
        kinds = {parameter.kind for parameter in inspect.signature(task.run).parameters.values()}
        assert kinds <= {inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD}, task.name


def test_a_shorter_job_starts_with_its_own_first_step(jobs):
    job = jobs.job_chain({"add": [3, 2], "sub": [1]}, names=("add", "sub"))
    assert job.apply_async().get(timeout=60) == {"sub_result": 4}


def test_a_step_without_its_operands_fails_naming_the_missing_key(jobs):
    result = jobs.job_chain({"div": [4, 2], "add": [6], "sub": [2]}).apply_async()
    with pytest.raises(LookupError, match="job_data has no key 'mul'"):
        result.get(timeout=60)
    mul = result.parent.parent
    assert mul.state == "FAILURE"
    assert str(mul.result) == "job_data has no key 'mul': the operands of step 'mul' are missing"
    assert result.parent.parent.parent.state == "SUCCESS"


def test_a_step_with_too_many_operands_fails_saying_how_many_it_takes(jobs):
    result = jobs.job_chain({"div": [4, 2], "mul": [3, 4], "add": [6], "sub": [2]}).apply_async()
    with pytest.raises(ValueError, match=r"job_data\['mul'\] must hold 1 operand\(s\), not 2"):
        result.get(timeout=60)


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    printed = run_from_copy(DAY, tmp_path / "my-project", "import jobs\njobs.main()")
    assert_prints(readme_block("day7/README.md", "python jobs.py"), printed)


def test_the_readmes_two_terminals_run_as_written(day):
    worker = readme_block("day7/README.md", "celery -A taskrunner worker -l INFO")
    assert_starts_the_worker(worker, day.worker)
    block = readme_block("day7/README.md", "python jobs.py")
    assert_prints(block, run_script(block, cwd=day.folder, env=queue_env(day.queue)).stdout)
