"""The API's data migration keeps the workflows started before the database kept their steps.

Until migration 0003, a workflow's row held only its steps' task ids, and
their states lived in the result store alone. The migration reads what the
result store (the live Redis here) still knows of each step, in one MGET, and
writes a ``Step`` row for each; undone, it gives the workflows their task ids
back.
"""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from config import celery_app
from runs.models import Step, Workflow

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("runs", "0001_initial")]


def migrate(targets):
    """Migrate the test database to ``targets``; the models of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def latest():
    """The last migration of every app: going back to runs' first unapplied the apps that
    depend on runs (webhooks), which must come back too."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def old_models():
    """The models as migration 0001 left them; the latest migration again afterwards."""
    try:
        yield migrate(BEFORE)
    finally:
        migrate(latest())


def test_every_step_gets_a_row_with_what_the_result_store_still_knows(old_models):
    OldWorkflow = old_models.get_model("runs", "Workflow")
    div, mul, forgotten_div, forgotten_mul = (str(uuid.uuid4()) for _ in range(4))
    celery_app.backend.store_result(div, {"div_result": 2.0}, "SUCCESS")
    celery_app.backend.store_result(mul, ZeroDivisionError("division by zero"), "FAILURE")
    failed = OldWorkflow.objects.create(
        testcase="ESG-TC02", job_data={"div": [4, 2], "mul": [3]}, task_ids=[div, mul]
    )
    # Expired from the result store: nothing is known of its steps.
    expired = OldWorkflow.objects.create(
        testcase="ESG-TC02", job_data={"div": [4, 2], "mul": [3]}, task_ids=[forgotten_div, forgotten_mul]
    )  # fmt: skip

    migrate(latest())

    steps = Step.objects.filter(workflow_id=failed.pk)
    assert [(step.name, step.task_id, step.state, step.tries) for step in steps] == [
        ("div", div, "SUCCESS", 1),
        ("mul", mul, "FAILURE", 1),
    ]
    assert steps[0].result == {"div_result": 2.0}
    assert steps[0].finished_at is not None
    assert steps[1].error == "ZeroDivisionError: division by zero"
    assert Workflow.objects.get(pk=failed.pk).summary.state == "FAILURE"
    steps = Step.objects.filter(workflow_id=expired.pk)
    assert [(step.task_id, step.state, step.tries) for step in steps] == [
        (forgotten_div, "PENDING", 0),
        (forgotten_mul, "PENDING", 0),
    ]

    # Undone, the migration gives every workflow its task ids back, in order.
    old = migrate(BEFORE).get_model("runs", "Workflow")
    assert old.objects.get(pk=failed.pk).task_ids == [div, mul]
    assert old.objects.get(pk=expired.pk).task_ids == [forgotten_div, forgotten_mul]
