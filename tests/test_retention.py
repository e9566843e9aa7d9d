"""Retention: finished workflows older than RETENTION_DAYS are deleted by a task that beat sends;
newer ones, and old ones still running, stay.

The task runs on the API's real worker, sent to the maintenance queue as beat
sends it; the workflows are written straight into the test database, started
long ago, with their steps in every state a workflow can end or wait in.
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from runs import retention
from runs.models import Step, Workflow
from runs.tasks import delete_old_workflows
from tests.support import api_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

# The worker that the API's modules share (tests/support/api_stack.py).
API_WORKER_ENV = api_stack.SHARED_WORKER_ENV
TC02 = {"div": [4, 2], "mul": [3]}


def workflow(days_ago, *states, cancelled=False):
    """A workflow of ESG-TC02 started ``days_ago``, its steps in ``states``; its id."""
    created = Workflow.objects.create(testcase="ESG-TC02", job_data=TC02)
    Step.objects.bulk_create(
        Step(workflow=created, position=position, name=name, task_id=str(uuid.uuid4()), state=state)
        for position, (name, state) in enumerate(zip(TC02, states, strict=True))
    )
    when = timezone.now() - timedelta(days=days_ago)
    Workflow.objects.filter(pk=created.pk).update(
        created_at=when, cancelled_at=when if cancelled else None
    )
    return created.pk


def remaining(ids):
    return set(Workflow.objects.filter(pk__in=ids).values_list("pk", flat=True))


def test_the_periodic_task_deletes_old_finished_workflows_only():
    old_finished = [
        workflow(40, "SUCCESS", "SUCCESS"),
        workflow(31, "FAILURE", "PENDING"),
        workflow(35, "SUCCESS", "REVOKED", cancelled=True),
        workflow(60, "SUCCESS", "FAILURE"),
        workflow(45, "REVOKED", "REVOKED", cancelled=True),
    ]
    old_running = [
        workflow(40, "SUCCESS", "STARTED"),
        workflow(40, "RETRY", "PENDING"),
        workflow(40, "PENDING", "PENDING"),
        # Cancelled while a step ran: that step still runs.
        workflow(40, "STARTED", "REVOKED", cancelled=True),
    ]
    recent = [workflow(29, "SUCCESS", "SUCCESS"), workflow(1, "FAILURE", "PENDING")]
    Step.objects.filter(workflow_id=old_finished[0]).update(result={"mul_result": 6.0})
    # As beat sends it: to the maintenance queue, where the worker reads it.
    delete_old_workflows.delay()
    everything = [*old_finished, *old_running, *recent]
    deadline = time.monotonic() + 30
    while remaining(everything) & set(old_finished):
        assert time.monotonic() < deadline, "the retention task has not run"
        time.sleep(0.2)
    assert remaining(everything) == {*old_running, *recent}
    # The steps went with their workflows.
    assert not Step.objects.filter(workflow_id__in=old_finished).exists()


def test_retention_reads_past_old_workflows_that_run_in_every_batch():
    """Batches of two, with two old running workflows first: the finished ones after them go."""
    running = [workflow(50, "SUCCESS", "STARTED"), workflow(49, "RETRY", "PENDING")]
    finished = [workflow(48, "SUCCESS", "SUCCESS") for _ in range(5)]
    assert retention.delete_old_workflows(days=30, batch=2) == 5
    assert remaining([*running, *finished]) == set(running)
    assert retention.delete_old_workflows(days=30, batch=2) == 0


def test_each_kind_of_task_travels_on_its_own_queue(api):
    """Steps on the default queue, webhooks on the notifications queue, beat's tasks on the
    maintenance queue: as config/settings.py routes them, to the worker's three queues."""
    from config import celery_app

    steps, notifications, maintenance = api.queues
    route = celery_app.amqp.router.route
    tasks = {name for name in celery_app.tasks if not name.startswith("celery.")}
    for name in tasks:
        queue = route({}, name)["queue"].name
        kind = name.partition(".")[0]
        expected = {"steps": steps, "webhooks": notifications, "maintenance": maintenance}[kind]
        assert queue == expected, name
    assert {name.partition(".")[0] for name in tasks} >= {"steps", "maintenance"}
