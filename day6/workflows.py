"""Workflows built from tasks with Celery's canvas.

A signature (``add.s(2, 2)``) is a task call that has not been sent yet; the
canvas primitives combine signatures into workflows:

- ``chain(a, b, c)`` runs one task after the other, and passes each result to
  the next task as its first argument;
- ``group(a, b, c)`` runs tasks in parallel and returns the list of results;
- a ``chord`` is a group followed by a task that receives that list.

``.s(...)`` makes a signature that accepts the previous result; ``.si(...)``
makes an immutable one that ignores it and runs with its own arguments only.
"""

from celery import chain, group

from taskrunner.tasks.arithmetic import add, difference, div, mul, sub


def dependent_chain():
    """4 / 2 * 3 + 6 - 2 = 10.0: each step works on the result of the one before."""
    return chain(div.s(4, 2), mul.s(3), add.s(6), sub.s(2))


def independent_chain():
    """Three steps in a row that share no data: 2.0, 9, 2."""
    return chain(div.si(4, 2), mul.si(3, 3), add.si(1, 1))


def parallel_group():
    """Four tasks at once: [1.0, 16, 5, 0]."""
    return group(div.s(2, 2), mul.s(4, 4), add.s(3, 2), sub.s(8, 8))


def diamond():
    """div(4, 2) first, then mul(3, 2) and add(1, 2) side by side, then 6 - 3 = 3.

    The middle steps use .si: they have operands of their own and must not
    receive div's result. A group followed by a task becomes a chord, whose
    last step receives the group's results as one list, [6, 3].
    """
    return chain(div.si(4, 2), group(mul.si(3, 2), add.si(1, 2)), difference.s())


def results_in_order(result):
    """The result of every step of a chain, first step first, by walking .parent."""
    results = []
    while result is not None:
        results.append(result.get(timeout=60))
        result = result.parent
    return results[::-1]


def main():
    timeout = 120
    print("chain, apply_async:    ", dependent_chain().apply_async().get(timeout=timeout))
    print("chain, called:         ", dependent_chain()().get(timeout=timeout))
    last = independent_chain().apply_async()
    last.get(timeout=timeout)
    print("chain of .si, by step: ", results_in_order(last))
    print("group:                 ", parallel_group().apply_async().get(timeout=timeout))
    print("diamond (chord):       ", diamond().apply_async().get(timeout=timeout))


if __name__ == "__main__":
    main()
