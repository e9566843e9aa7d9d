"""The state of every step of a workflow, read from the result store in one round trip.

As in day 6, the records of all the steps come from one MGET of their keys in
Redis, however many steps there are; here, also those of every workflow on a
page of the list.

How a workflow's state follows from its steps' states, first rule first:

- FAILURE: a step failed. The steps after it did not run: Celery marks them
  FAILURE too, with the same error, and they are shown as NOT_RUN.
- SUCCESS: every step succeeded; ``result`` is the last step's result.
- REVOKED: the workflow was cancelled, or a step was revoked.
- STARTED: a step has started or finished, and the workflow goes on.
- PENDING: no step has started yet.
"""

import uuid

from celery import states
from django.db.models import Q

from config import celery_app

from .models import Workflow

NOT_RUN = "NOT_RUN"
UNKNOWN = "UNKNOWN"


def read_records(task_ids):
    """Each task's record in the result store, from one MGET; None for a task it has none of.

    The records are decoded as plain JSON: an error stays a dict that names
    its type, rather than an exception that Celery would rebuild.
    """
    if not task_ids:
        return []
    backend = celery_app.backend
    values = backend.mget([backend.get_key_for_task(task_id) for task_id in task_ids])
    return [backend.decode(value) if value else None for value in values]


def error_message(error):
    """``"ZeroDivisionError: division by zero"``, from an error as the result store keeps it."""
    if not isinstance(error, dict):
        return str(error)
    arguments = error.get("exc_message") or []
    if isinstance(arguments, list | tuple):
        message = str(arguments[0]) if len(arguments) == 1 else ", ".join(map(str, arguments))
    else:
        message = str(arguments)
    return f"{error.get('exc_type', 'Error')}: {message}" if message else error.get("exc_type")


def step_result(name, result):
    """A step's result without its wrapping: ``{"div_result": 2.0}`` is 2.0."""
    if isinstance(result, dict) and list(result) == [f"{name}_result"]:
        return result[f"{name}_result"]
    return result


def describe_steps(names, task_ids, records):
    """Every step, in order: its name, task id, state, result, error and when it finished."""
    steps = []
    stopped = False  # A step before this one failed or was revoked: the chain went no further.
    for name, task_id, record in zip(names, task_ids, records, strict=True):
        record = record or {"status": states.PENDING}
        state = record.get("status", states.PENDING)
        step = {
            "name": name,
            "task_id": task_id,
            "state": state,
            "result": None,
            "error": None,
            "date_done": record.get("date_done"),
        }
        if stopped and state != states.REVOKED:
            step.update(state=NOT_RUN, date_done=None)
        elif state == states.SUCCESS:
            step["result"] = step_result(name, record.get("result"))
        elif state == states.FAILURE:
            step["error"] = error_message(record.get("result"))
        stopped = stopped or state in states.PROPAGATE_STATES
        steps.append(step)
    return steps


def workflow_state(steps, cancelled):
    step_states = [step["state"] for step in steps]
    if states.FAILURE in step_states:
        return states.FAILURE
    if all(state == states.SUCCESS for state in step_states):
        return states.SUCCESS
    if cancelled or states.REVOKED in step_states:
        return states.REVOKED
    if any(state != states.PENDING for state in step_states):
        return states.STARTED
    return states.PENDING


def summarize(workflow, records):
    """The status of ``workflow``, from the records of its steps."""
    steps = describe_steps(workflow.steps, workflow.task_ids, records)
    state = workflow_state(steps, cancelled=workflow.cancelled_at is not None)
    succeeded = sum(step["state"] == states.SUCCESS for step in steps)
    failed = next((step for step in steps if step["state"] == states.FAILURE), None)
    return {
        "state": state,
        "progress": f"{succeeded}/{len(steps)}",
        "result": steps[-1]["result"] if state == states.SUCCESS else None,
        "error": f"step {failed['name']!r} failed: {failed['error']}" if failed else None,
        "steps": steps,
    }


def read_statuses(workflows):
    """The status of each workflow, by id, from one round trip to the result store for all."""
    task_ids = [task_id for workflow in workflows for task_id in workflow.task_ids]
    records = iter(read_records(task_ids))
    return {
        workflow.id: summarize(workflow, [next(records) for _ in workflow.task_ids])
        for workflow in workflows
    }


def issued_task_ids(task_ids):
    """The ids among ``task_ids`` that the API gave to a step, from one database query.

    The API's task ids are UUIDs, so anything else was never issued. A text
    search of the stored lists finds the candidates on any database; the
    exact comparison that follows leaves only the ids themselves.
    """
    candidates = set()
    for task_id in task_ids:
        try:
            candidates.add(str(uuid.UUID(task_id)))
        except ValueError:
            continue
    candidates &= set(task_ids)
    if not candidates:
        return set()
    query = Q()
    for task_id in candidates:
        query |= Q(task_ids__icontains=f'"{task_id}"')
    stored = Workflow.objects.filter(query).values_list("task_ids", flat=True)
    return candidates & {task_id for ids in stored for task_id in ids}


def task_states(task_ids):
    """Each task's state, by id, as the old tutorial answered.

    An id that the API never issued is UNKNOWN, rather than Celery's PENDING.
    """
    issued = sorted(issued_task_ids(task_ids))
    records = read_records(issued)
    known = {
        task_id: (record or {}).get("status", states.PENDING)
        for task_id, record in zip(issued, records, strict=True)
    }
    return {task_id: known.get(task_id, UNKNOWN) for task_id in task_ids}
