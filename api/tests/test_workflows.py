"""Workflows started through the API and run by a real worker, as in production.

POST /api/workflows/ sends the test case's chain to the broker; the worker
(conftest.py) takes each step from its queue, runs it and records it in the
database; the tests read the outcome where a client does, from the API, and
where the worker wrote it, the database. The worker has its own connection,
so the tests commit what they write: ``transaction=True``.
"""

import time

import pytest
from celery import states
from rest_framework.test import APIClient

from runs.models import Step, Workflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def client(django_user_model, settings):
    # No limit on starts: API_START_RATE counts them in the shared Redis, where
    # this user (the test database's first) may have started many this minute.
    settings.API_START_RATE = "100000/minute"
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("reader"))
    return client


def start(client, testcase, job_data):
    return client.post(
        "/api/workflows/", {"testcase": testcase, "job_data": job_data}, format="json"
    )


def wait_until_finished(client, url, timeout=10):
    """The workflow at ``url`` as the API answers once it has finished, as a client waits."""
    deadline = time.monotonic() + timeout
    while True:
        workflow = client.get(url).json()
        if workflow["state"] in {states.SUCCESS, states.FAILURE}:
            return workflow
        assert time.monotonic() < deadline, f"not finished after {timeout} s: {workflow}"
        time.sleep(0.05)


def test_the_worker_runs_every_step_and_records_it(client):
    job_data = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
    response = start(client, "ESG-TC01", job_data)
    # The API answers at once: the steps are on the broker, waiting for the worker.
    assert response.status_code == 202, response.json()
    assert response.json()["state"] == states.PENDING

    workflow = wait_until_finished(client, response.json()["links"]["self"])
    # ((4 / 2) * 3 + 6) - 2
    assert (workflow["state"], workflow["progress"], workflow["result"]) == ("SUCCESS", "4/4", 10.0)

    # The record of truth: each step as the worker wrote it, in order, run once.
    steps = Step.objects.filter(workflow=Workflow.objects.get(pk=workflow["id"]))
    assert [(step.name, step.state, step.result, step.tries) for step in steps] == [
        ("div", "SUCCESS", {"div_result": 2.0}, 1),
        ("mul", "SUCCESS", {"mul_result": 6.0}, 1),
        ("add", "SUCCESS", {"add_result": 12.0}, 1),
        ("sub", "SUCCESS", {"sub_result": 10.0}, 1),
    ]
    assert all(step.started_at <= step.finished_at for step in steps)


def test_validation_refuses_a_division_by_zero_before_anything_is_sent(client):
    response = start(client, "ESG-TC02", {"div": [4, 0], "mul": [3]})
    assert response.status_code == 400
    assert response.json() == {"job_data": {"div": ["operand 2 is the divisor and must not be 0"]}}
    assert not Workflow.objects.exists()


def test_a_step_that_fails_on_the_worker_is_recorded_and_stops_the_chain(client):
    # Valid job data, as far as the API can tell: finite numbers. Their
    # product is not (1e309 is more than a float holds), which only running
    # the step finds out, on the worker.
    response = start(client, "ESG-TC02", {"div": [1e308, 1], "mul": [10]})
    assert response.status_code == 202, response.json()

    workflow = wait_until_finished(client, response.json()["links"]["self"])
    assert workflow["state"] == states.FAILURE
    assert workflow["error"] == (
        "step 'mul' failed: OverflowError: the result of step 'mul' is too large for a number: inf"
    )
    div, mul = Step.objects.filter(workflow_id=workflow["id"])
    assert div.state == states.SUCCESS
    # A permanent error fails the step at once: one try, no retry.
    assert (mul.state, mul.tries) == (states.FAILURE, 1)
