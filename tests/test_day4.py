"""Day 4: workflows with canvas: chains, .si, a group, and the diamond (a chord)."""

import pytest
from celery.exceptions import ChordError

from sprout.worker import queue_env
from tests.support.clients import run_from_copy
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_script,
)

DAY = "day4"
# These tests check what tasks return, not the states they go through.
TASK_DELAY = "0.1"


@pytest.fixture(scope="module")
def workflows(day):
    return day.module("workflows")


def test_a_dependent_chain_computes_4_div_2_mul_3_add_6_sub_2(workflows):
    assert workflows.dependent_chain().apply_async().get(timeout=60) == 10.0


def test_calling_a_chain_starts_it_too(workflows):
    assert workflows.dependent_chain()().get(timeout=60) == 10.0


def test_a_chain_of_immutable_signatures_reads_each_step_through_parent(workflows):
    last = workflows.independent_chain().apply_async()
    assert workflows.results_in_order(last) == [2.0, 9, 2]
    assert last.parent.parent.parent is None


def test_a_group_runs_four_tasks_in_parallel(workflows):
    assert workflows.parallel_group().apply_async().get(timeout=60) == [1.0, 16, 5, 0]


def test_the_diamond_subtracts_the_second_branch_from_the_first(workflows):
    assert workflows.diamond().apply_async().get(timeout=60) == 3


def test_a_two_argument_step_cannot_close_a_chord(day, workflows):
    arithmetic = day.module("taskrunner.tasks.arithmetic")
    diamond = workflows.diamond()
    diamond.tasks[-1].body = arithmetic.sub.s()
    with pytest.raises(ChordError, match=r"sub\(\) missing 1 required positional argument: 'y'"):
        diamond.apply_async().get(timeout=60)


@pytest.mark.default_queue
def test_runs_from_a_copy_of_the_folder(tmp_path):
    code = "import workflows\nworkflows.main()"
    printed = run_from_copy(DAY, tmp_path / "my-project", code)
    assert_prints(readme_block("day4/README.md", "python workflows.py"), printed)


def test_the_readmes_two_terminals_run_as_written(day):
    worker = readme_block("day4/README.md", "celery -A taskrunner worker -l INFO")
    assert_starts_the_worker(worker, day.worker)
    block = readme_block("day4/README.md", "python workflows.py")
    assert_prints(block, run_script(block, cwd=day.folder, env=queue_env(day.queue)).stdout)
