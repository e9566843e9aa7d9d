"""The test cases the API runs, and what each of their steps needs: the one place to add one.

A test case is a list of steps, run in that order as a chain. Each step is the
task of that name in tasks.py (``div`` is ``steps.div``). The job data holds
the operands of every step under the step's name.

What a step needs from the job data is declared here once (``Needs``), and
read by everything that speaks of it: the serializer that checks job data
(``runs/serializers.py``), the OpenAPI schema of the body that starts a
workflow (``runs/schema.py``), the test cases' answer (``GET
/api/testcases/``) and the steps themselves (``runs/tasks.py``).

To add a test case, add a line below with job data that runs it; to add a
step, add a task to tasks.py too.
"""

from typing import NamedTuple

#: Every step works on two numbers.
ARITY = 2
#: The steps whose last operand is a divisor, which must not be 0.
DIVIDING = frozenset({"div"})


class Needs(NamedTuple):
    """What one step needs from the job data: a list of ``count`` numbers; if ``divisor``,
    the last of them divides, and must not be 0."""

    count: int
    divisor: bool

    @property
    def numbers(self):
        """``2 numbers``, ``1 number``."""
        return f"{self.count} number" if self.count == 1 else f"{self.count} numbers"

    @property
    def described(self):
        """``a list of 2 numbers``."""
        return f"a list of {self.numbers}"


def step_needs(step, first):
    """What ``step`` needs from the job data, as the first step of its chain or a later one.

    The first step takes both its numbers from the job data; a later step is
    handed the result of the step before as its first number, and takes one.
    """
    return Needs(count=ARITY if first else ARITY - 1, divisor=step in DIVIDING)


class Testcase(NamedTuple):
    """A test case: its steps, in the order they run, and job data that runs it."""

    steps: tuple[str, ...]
    example: dict

    @property
    def needs(self):
        """What each step needs from the job data, by step, in order."""
        return {
            step: step_needs(step, first=position == 0) for position, step in enumerate(self.steps)
        }


TESTCASES = {
    "ESG-TC01": Testcase(
        steps=("div", "mul", "add", "sub"),
        example={"div": [4, 2], "mul": [3], "add": [6], "sub": [2]},
    ),
    "ESG-TC02": Testcase(steps=("div", "mul"), example={"div": [4, 2], "mul": [3]}),
    "ESG-TC03": Testcase(steps=("add", "sub"), example={"add": [3, 2], "sub": [1]}),
}
