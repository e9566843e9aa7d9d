"""The test cases the API runs: the one place to add one.

A test case is a list of steps, run in that order as a chain. Each step is the
task of that name in tasks.py (``div`` is ``steps.div``). The job data holds the operands of
every step under the step's name: the first step takes two numbers, each later
step one, which it applies to the result of the step before.

To add a test case, add a line below with job data that runs it; to add a
step, add a task to tasks.py too.
"""

from typing import NamedTuple


class Testcase(NamedTuple):
    steps: tuple[str, ...]
    example: dict


TESTCASES = {
    "ESG-TC01": Testcase(
        steps=("div", "mul", "add", "sub"),
        example={"div": [4, 2], "mul": [3], "add": [6], "sub": [2]},
    ),
    "ESG-TC02": Testcase(steps=("div", "mul"), example={"div": [4, 2], "mul": [3]}),
    "ESG-TC03": Testcase(steps=("add", "sub"), example={"add": [3, 2], "sub": [1]}),
}


def operand_count(position):
    """How many operands the step at ``position`` (0 for the first) takes from the job data."""
    return 2 if position == 0 else 1
