"""How a workflow's state follows from its steps', as the database records them.

The worker writes each step's state into the database as it changes
(``runs/records.py``), so a workflow's status, running or finished, is read
from there: one query brings the steps of every workflow on a page, however
many there are, as day 6 read them all from Redis with one MGET.

How a workflow's state follows from its steps' states, first rule first:

- FAILURE: a step failed. The steps after it did not run, and are shown as NOT_RUN.
- SUCCESS: every step succeeded; ``result`` is the last step's result.
- REVOKED: the workflow was cancelled, or a step was revoked.
- STARTED: a step has started, is waiting to retry, or has finished, and the workflow goes on.
- PENDING: no step has started yet.
"""

from celery import states

NOT_RUN = "NOT_RUN"
UNKNOWN = "UNKNOWN"

#: The states in which a workflow has finished: nothing of it runs any more.
FINISHED = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED})
#: The states in which a step has finished, or never will run.
STEP_FINISHED = frozenset({*states.READY_STATES, NOT_RUN})


def step_result(name, result):
    """A step's result without its wrapping: ``{"div_result": 2.0}`` is 2.0."""
    if isinstance(result, dict) and list(result) == [f"{name}_result"]:
        return result[f"{name}_result"]
    return result


def describe_steps(steps):
    """Every step, in order, as the API shows it."""
    described = []
    stopped = False  # A step before this one failed: the chain went no further.
    for step in steps:
        state = NOT_RUN if stopped and step.state != states.REVOKED else step.state
        described.append(
            {
                "name": step.name,
                "task_id": step.task_id,
                "state": state,
                "result": step_result(step.name, step.result) if state == states.SUCCESS else None,
                "error": (step.error or None) if state in {states.FAILURE, states.RETRY} else None,
                "tries": step.tries,
                "started_at": step.started_at,
                "finished_at": step.finished_at if state in states.READY_STATES else None,
            }
        )
        stopped = stopped or state == states.FAILURE
    return described


def workflow_state(step_states, cancelled):
    if states.FAILURE in step_states:
        return states.FAILURE
    if all(state == states.SUCCESS for state in step_states):
        return states.SUCCESS
    if cancelled or states.REVOKED in step_states:
        return states.REVOKED
    if any(state != states.PENDING for state in step_states):
        return states.STARTED
    return states.PENDING


def summarize(steps, cancelled):
    """The status of a workflow, from its steps in order."""
    described = describe_steps(steps)
    state = workflow_state([step["state"] for step in described], cancelled)
    succeeded = sum(step["state"] == states.SUCCESS for step in described)
    failed = next((step for step in described if step["state"] == states.FAILURE), None)
    return {
        "state": state,
        "progress": f"{succeeded}/{len(described)}",
        "result": described[-1]["result"] if state == states.SUCCESS else None,
        "error": f"step {failed['name']!r} failed: {failed['error']}" if failed else None,
        "steps": described,
    }
