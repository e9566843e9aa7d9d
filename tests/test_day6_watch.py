"""Day 6: watching a chain's steps while they run.

Each step lasts the suite's TASK_DELAY, long enough to be seen STARTED; the
rest of day 6's tests, in test_day6.py, give its worker shorter steps.
"""

import io

from tests.support.recording import Terminal

DAY = "day6"


def watch_a_chain(day, out):
    """Run day 4's chain, 4 / 2 * 3 + 6 - 2, and watch its steps with ``status.watch``."""
    status = day.module("status")
    result = day.module("workflows").dependent_chain().apply_async()
    return status.watch(["div", "mul", "add", "sub"], status.step_ids(result), out=out)


def test_watch_prints_each_change_in_workflow_order_and_ends_by_itself(day):
    out = io.StringIO()
    steps = watch_a_chain(day, out)
    assert out.getvalue().splitlines() == [
        "div    STARTED",
        "div    SUCCESS 2.0",
        "mul    STARTED",
        "mul    SUCCESS 6.0",
        "add    STARTED",
        "add    SUCCESS 12.0",
        "sub    STARTED",
        "sub    SUCCESS 10.0",
    ]
    assert [step["result"] for step in steps] == [2.0, 6.0, 12.0, 10.0]


def test_watch_redraws_a_table_in_place_on_a_terminal(day):
    out = Terminal()
    watch_a_chain(day, out)
    last_table = out.getvalue().rpartition("F")[2]  # after the last "cursor up" sequence
    assert "\x1b[5F" in out.getvalue()
    assert [line.rstrip("\x1b[K").split() for line in last_table.splitlines()[1:]] == [
        ["div", "SUCCESS", "2.0"],
        ["mul", "SUCCESS", "6.0"],
        ["add", "SUCCESS", "12.0"],
        ["sub", "SUCCESS", "10.0"],
    ]
