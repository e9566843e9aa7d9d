"""The state of every step of a workflow, while it runs."""

import sys
import time

from celery import states

from taskrunner import app
from workflows import dependent_chain


def step_ids(result):
    """The task id of every step of a chain, first step first.

    A chain's ``apply_async`` returns the result of its last step, and each
    result knows the step before it as ``.parent``.
    """
    ids = []
    while result is not None:
        ids.append(result.id)
        result = result.parent
    return ids[::-1]


def states_one_by_one(task_ids):
    """Each task's state, asking the result store once per task."""
    return [app.AsyncResult(task_id).state for task_id in task_ids]


def read_steps(task_ids):
    """Each task's state and result, from one MGET of all their keys in Redis.

    A task that the result store has no record of is PENDING, as
    ``AsyncResult`` would say.
    """
    backend = app.backend
    values = backend.mget([backend.get_key_for_task(task_id) for task_id in task_ids])
    steps = []
    for value in values:
        meta = backend.decode_result(value) if value else {"status": states.PENDING}
        steps.append({"state": meta["status"], "result": describe(meta)})
    return steps


def describe(meta):
    """A step's result as a reader wants it: the value, or the error, or nothing yet."""
    if meta["status"] == states.SUCCESS:
        return meta["result"]
    if meta["status"] == states.FAILURE:
        error = meta["result"]  # the exception, rebuilt from what the worker stored
        return f"{type(error).__name__}: {error}"
    return None


def finished(steps):
    """A chain has finished when every step has, or when one failed: the rest never run."""
    return all(step["state"] in states.READY_STATES for step in steps) or any(
        step["state"] in states.PROPAGATE_STATES for step in steps
    )


def table(names, steps, elapsed):
    """The steps as lines of text: name, state, result."""
    lines = [f"{'step':<6} {'state':<8} result    ({elapsed:4.1f} s)"]
    for name, step in zip(names, steps, strict=True):
        result = "" if step["result"] is None else step["result"]
        lines.append(f"{name:<6} {step['state']:<8} {result}")
    return lines


def watch(names, task_ids, interval=0.1, out=sys.stdout):
    """Show every step's state until the chain has finished; return the last reading.

    On a terminal, a table is redrawn in place. Elsewhere (a file, a pipe, a
    notebook), each change of a step's state is printed on a line of its own,
    in workflow order.
    """
    started = time.monotonic()
    shown = [{"state": states.PENDING, "result": None}] * len(task_ids)
    lines_drawn = 0
    while True:
        steps = read_steps(task_ids)
        if out.isatty():
            lines = table(names, steps, time.monotonic() - started)
            if lines_drawn:
                out.write(f"\x1b[{lines_drawn}F")  # back to the table's first line
            out.write("".join(f"{line}\x1b[K\n" for line in lines))
            lines_drawn = len(lines)
        else:
            for index, (name, step) in enumerate(zip(names, steps, strict=True)):
                if step != shown[index]:
                    result = "" if step["result"] is None else f" {step['result']}"
                    out.write(f"{name:<6} {step['state']}{result}\n")
                    shown[index] = step
                # A worker sends a chain's next step a moment before it stores this
                # step's result: news of later steps waits until this one has finished.
                if step["state"] not in states.READY_STATES:
                    break
        out.flush()
        if finished(steps):
            return steps
        time.sleep(interval)


def main():
    workflow = dependent_chain()
    names = [step.name.rpartition(".")[2] for step in workflow.tasks]
    result = workflow.apply_async()
    watch(names, step_ids(result))
    print("result:", result.get(timeout=60))


if __name__ == "__main__":
    main()
