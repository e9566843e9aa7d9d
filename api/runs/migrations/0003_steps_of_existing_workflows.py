"""A row for each step of the workflows started before the database kept their steps.

Until then, the database kept only the steps' task ids, in order, and their
states lived in the result store alone. This reads what the result store
still knows of every step, in one MGET, and writes it into the step's row. A
step it knows nothing of (expired, or Redis cannot be reached) starts as
PENDING; a worker that runs it from now on records it as any other.
"""

from django.db import migrations
from django.utils.dateparse import parse_datetime

from runs.testcases import TESTCASES

STATES = {"PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"}
FINISHED = {"SUCCESS", "FAILURE", "REVOKED"}


def read_records(task_ids):
    """Each task's record in the result store; None for all when it cannot be read."""
    from config import celery_app

    backend = celery_app.backend
    try:
        values = backend.mget([backend.get_key_for_task(task_id) for task_id in task_ids])
    except Exception as exc:
        print(f"\n  The result store cannot be read ({exc}): every step starts as PENDING.")
        return [None] * len(task_ids)
    return [backend.decode(value) if value else None for value in values]


def error_message(error):
    """``"ZeroDivisionError: division by zero"``, from an error as the result store keeps it."""
    if not isinstance(error, dict):
        return str(error)
    arguments = error.get("exc_message") or []
    if isinstance(arguments, list | tuple):
        message = ", ".join(map(str, arguments))
    else:
        message = str(arguments)
    kind = error.get("exc_type", "Error")
    return f"{kind}: {message}" if message else kind


def step_names(workflow):
    """The names of the steps, as the test case declares them, or "step 1", "step 2" …"""
    testcase = TESTCASES.get(workflow.testcase)
    if testcase and len(testcase.steps) == len(workflow.task_ids):
        return list(testcase.steps)
    return [f"step {number}" for number in range(1, len(workflow.task_ids) + 1)]


def create_steps(apps, schema_editor):
    Workflow = apps.get_model("runs", "Workflow")
    Step = apps.get_model("runs", "Step")
    workflows = list(Workflow.objects.all())
    task_ids = [task_id for workflow in workflows for task_id in workflow.task_ids]
    if not task_ids:
        return
    records = iter(read_records(task_ids))
    steps = []
    for workflow in workflows:
        for position, (name, task_id) in enumerate(
            zip(step_names(workflow), workflow.task_ids, strict=True)
        ):
            record = next(records) or {}
            state = record.get("status", "PENDING")
            state = state if state in STATES else "PENDING"
            done = record.get("date_done") if state in FINISHED else None
            steps.append(
                Step(
                    workflow=workflow,
                    position=position,
                    name=name,
                    task_id=task_id,
                    state=state,
                    result=record.get("result") if state == "SUCCESS" else None,
                    error=error_message(record.get("result")) if state == "FAILURE" else "",
                    finished_at=parse_datetime(done) if done else None,
                    tries=0 if state == "PENDING" else 1,
                )
            )
    Step.objects.bulk_create(steps, batch_size=500)


def restore_task_ids(apps, schema_editor):
    Workflow = apps.get_model("runs", "Workflow")
    for workflow in Workflow.objects.all():
        workflow.task_ids = list(
            workflow.steps.order_by("position").values_list("task_id", flat=True)
        )
        workflow.save(update_fields=["task_ids"])


class Migration(migrations.Migration):
    dependencies = (("runs", "0002_step"),)

    operations = (migrations.RunPython(create_steps, restore_task_ids),)
