"""The workflows API (api/): day 7's job chain started and followed through Django REST Framework.

The API's worker runs from api/, as ``celery -A config worker`` does, on a
queue of its own; the API in this process sends the steps there. Everything
runs against the live broker and result store.
"""

import io
import json
import os
import re
import shlex
import subprocess
import time
import uuid

import pytest
from django.core.management import CommandError, call_command

from config import celery_app
from runs import tasks
from runs.models import Workflow
from runs.serializers import job_data_errors
from runs.status import read_records, read_statuses
from runs.testcases import TESTCASES
from sprout import DayWorker
from sprout.api import API, ApiServer, wait_until_finished
from sprout.testing import Terminal, record_redis_commands, unique_queue

pytestmark = pytest.mark.django_db

# Each step sleeps this long on the worker: short, yet long enough to see STARTED.
TASK_DELAY = os.environ.get("TASK_DELAY", "0.5")

TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
TC02 = {"div": [4, 2], "mul": [3]}
TC03 = {"add": [3, 2], "sub": [1]}

# The old tutorial's two commands, word for word.
TUTORIAL_POST = """curl -d 'testcase=ESG-TC02' -d 'job_data={"div" : [4, 2], "mul" : [3]}' -X POST http://localhost:8000"""
TUTORIAL_GET = """curl -d 'task_list=["e2f970f6-52ed-48fe-ad4c-93c31d312f92","303c37f8-f079-4bc7-a0b4-b311c6fdb65e"]' -X GET http://localhost:8000"""


@pytest.fixture(scope="module")
def api_worker():
    """The API's worker, started from api/ on a queue made for this module."""
    worker = DayWorker(
        "api", folder=API, app="config", queue=unique_queue("api"), env={"TASK_DELAY": TASK_DELAY}
    )
    default_queue = celery_app.conf.task_default_queue
    # Before the first message is sent: the API's steps go to this worker.
    celery_app.conf.task_default_queue = worker.queue
    try:
        with worker:
            yield worker
    finally:
        celery_app.conf.task_default_queue = default_queue
        worker.delete_queue()


@pytest.fixture(autouse=True)
def api(api_worker):
    # A day's tests make their own app Celery's current one in this process;
    # the API's shared tasks must resolve to the API's app.
    celery_app.set_current()
    return api_worker


def start(client, testcase, job_data):
    response = client.post(
        "/api/workflows/",
        {"testcase": testcase, "job_data": job_data},
        content_type="application/json",
    )
    assert response.status_code == 202, response.json()
    return response


@pytest.fixture
def count_redis_commands(monkeypatch):
    """The names of the commands sent to the result store from now on."""
    return record_redis_commands(celery_app, monkeypatch)


def test_the_three_testcases_give_their_results(client):
    started = {
        name: start(client, name, job_data).json()
        for name, job_data in [("ESG-TC01", TC01), ("ESG-TC02", TC02), ("ESG-TC03", TC03)]
    }
    finished = {
        name: wait_until_finished(client, workflow["links"]["self"])
        for name, workflow in started.items()
    }
    assert {name: workflow["result"] for name, workflow in finished.items()} == {
        "ESG-TC01": 10.0,
        "ESG-TC02": 6.0,
        "ESG-TC03": 4,
    }
    tc01 = finished["ESG-TC01"]
    assert tc01["state"] == "SUCCESS"
    assert tc01["progress"] == "4/4"
    assert [(step["name"], step["state"], step["result"]) for step in tc01["steps"]] == [
        ("div", "SUCCESS", 2.0),
        ("mul", "SUCCESS", 6.0),
        ("add", "SUCCESS", 12.0),
        ("sub", "SUCCESS", 10.0),
    ]
    assert all(step["date_done"] and step["error"] is None for step in tc01["steps"])
    assert [step["name"] for step in finished["ESG-TC03"]["steps"]] == ["add", "sub"]
    # The stored ids are those the worker ran the steps under: each holds its step's result.
    records = read_records(Workflow.objects.get(id=started["ESG-TC02"]["id"]).task_ids)
    assert [record["result"] for record in records] == [{"div_result": 2.0}, {"mul_result": 6.0}]


def test_a_new_workflow_answers_202_with_its_location_and_its_task_ids_in_order(client):
    response = start(client, "ESG-TC02", TC02)
    workflow = response.json()
    assert response["Location"] == workflow["links"]["self"]
    assert workflow["links"]["self"].endswith(f"/api/workflows/{workflow['id']}/")
    assert workflow["testcase"] == "ESG-TC02"
    assert workflow["job_data"] == TC02
    assert [step["task_id"] for step in workflow["steps"]] == workflow["task_ids"]
    assert Workflow.objects.get(id=workflow["id"]).task_ids == workflow["task_ids"]
    assert workflow["state"] in {"PENDING", "STARTED"}
    assert workflow["progress"] == "0/2"


def test_a_form_encoded_post_takes_job_data_as_json_text(client):
    response = client.post(
        "/api/workflows/",
        'testcase=ESG-TC03&job_data={"add" : [3, 2], "sub" : [1]}',
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 202, response.json()
    assert response.json()["testcase"] == "ESG-TC03"
    assert response.json()["job_data"] == TC03


def test_reading_a_workflow_asks_the_result_store_once(client, count_redis_commands):
    location = start(client, "ESG-TC01", TC01)["Location"]
    count_redis_commands.clear()
    workflow = client.get(location).json()
    assert len(workflow["steps"]) == 4
    assert count_redis_commands == ["MGET"]


def test_reading_a_hundred_steps_asks_the_result_store_once(count_redis_commands):
    workflow = Workflow(testcase="ESG-TC01", task_ids=[str(uuid.uuid4()) for _ in range(100)])
    steps = read_statuses([workflow])[workflow.id]["steps"]
    assert [step["state"] for step in steps] == ["PENDING"] * 100
    assert count_redis_commands == ["MGET"]


def test_the_list_is_paged_newest_first_and_read_in_one_round_trip(client, count_redis_commands):
    # Records only: the steps are never sent, and stay PENDING.
    created = [
        Workflow.objects.create(
            testcase="ESG-TC02", job_data=TC02, task_ids=[str(uuid.uuid4()), str(uuid.uuid4())]
        )
        for _ in range(21)
    ]
    count_redis_commands.clear()
    page = client.get("/api/workflows/").json()
    assert count_redis_commands == ["MGET"]
    assert page["count"] == 21
    assert page["next"].endswith("/api/workflows/?page=2")
    assert [workflow["id"] for workflow in page["results"]] == [
        str(workflow.id) for workflow in reversed(created[1:])
    ]
    assert {workflow["state"] for workflow in page["results"]} == {"PENDING"}
    last = client.get(page["next"]).json()
    assert [workflow["id"] for workflow in last["results"]] == [str(created[0].id)]


def test_a_failed_step_says_why_and_the_steps_after_it_did_not_run(client):
    # 1e308 / 1e-308 overflows: the first step fails on the worker.
    job_data = {"div": [1e308, 1e-308], "mul": [3], "add": [6], "sub": [2]}
    workflow = wait_until_finished(client, start(client, "ESG-TC01", job_data)["Location"])
    assert workflow["state"] == "FAILURE"
    assert workflow["progress"] == "0/4"
    assert workflow["result"] is None
    div, *later = workflow["steps"]
    assert div["state"] == "FAILURE"
    assert div["error"] == "OverflowError: the result of step 'div' is too large for a number: inf"
    assert workflow["error"] == f"step 'div' failed: {div['error']}"
    assert [(step["state"], step["error"]) for step in later] == [("NOT_RUN", None)] * 3
    # Celery itself records the later steps as failed, with the same error, a
    # moment after the failed step's own record.
    deadline = time.monotonic() + 10
    while None in (later_records := read_records([step["task_id"] for step in later])):
        assert time.monotonic() < deadline, later_records
        time.sleep(0.05)
    assert {record["status"] for record in later_records} == {"FAILURE"}
    # A workflow that has finished cannot be cancelled.
    response = client.post(f"{workflow['links']['cancel']}")
    assert response.status_code == 409
    assert "already finished (FAILURE)" in response.json()["detail"]


def test_cancel_revokes_the_steps_that_have_not_run(client):
    workflow = start(client, "ESG-TC01", TC01).json()
    response = client.post(workflow["links"]["cancel"])
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["state"] == "REVOKED"
    assert cancelled["cancelled_at"] is not None
    assert [step["state"] for step in cancelled["steps"][1:]] == ["REVOKED"] * 3
    # The first step may be running: it finishes, and the next one never starts.
    deadline = time.monotonic() + 10
    while (first := read_records(workflow["task_ids"][:1])[0]) is None or first["status"] not in {
        "SUCCESS",
        "REVOKED",
    }:
        assert time.monotonic() < deadline, first
        time.sleep(0.05)
    time.sleep(float(TASK_DELAY) + 0.2)
    after = client.get(workflow["links"]["self"]).json()
    assert after["state"] == "REVOKED"
    assert [step["state"] for step in after["steps"][1:]] == ["REVOKED"] * 3
    # Cancelling again changes nothing.
    again = client.post(workflow["links"]["cancel"]).json()
    assert again["cancelled_at"] == cancelled["cancelled_at"]


def run_curl(command, url):
    completed = subprocess.run(
        shlex.split(command.replace("http://localhost:8000", url)),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(completed.stdout)


def test_the_old_tutorials_two_commands_work_as_written(api_worker):
    # The API served by gunicorn, as in production, sending its steps to this module's worker.
    with ApiServer({"CELERY_TASK_DEFAULT_QUEUE": api_worker.queue}) as server:
        task_ids = run_curl(TUTORIAL_POST, server.url)
        assert len(task_ids) == 2
        # The second command as the tutorial wrote it, with the ids it printed.
        assert run_curl(TUTORIAL_GET, server.url) == {
            "e2f970f6-52ed-48fe-ad4c-93c31d312f92": "UNKNOWN",
            "303c37f8-f079-4bc7-a0b4-b311c6fdb65e": "UNKNOWN",
        }
        ours = re.sub(r"\[.*\]", json.dumps(task_ids).replace(" ", ""), TUTORIAL_GET)
        deadline = time.monotonic() + 30
        while (answer := run_curl(ours, server.url)) != dict.fromkeys(task_ids, "SUCCESS"):
            assert time.monotonic() < deadline, answer
            assert set(answer.values()) <= {"PENDING", "STARTED", "SUCCESS"}
            time.sleep(0.05)
        workflows = run_curl("curl http://localhost:8000/api/workflows/", server.url)
        assert [workflow["task_ids"] for workflow in workflows["results"]] == [task_ids]
        assert workflows["results"][0]["result"] == 6.0


def test_task_list_may_also_come_in_the_query_string(client):
    task_ids = start(client, "ESG-TC03", TC03).json()["task_ids"]
    never = str(uuid.uuid4())
    answer = client.get("/", {"task_list": json.dumps([*task_ids, never])}).json()
    assert list(answer) == [*task_ids, never]
    assert answer[never] == "UNKNOWN"
    assert {answer[task_id] for task_id in task_ids} <= {"PENDING", "STARTED", "SUCCESS"}


def test_the_site_root_lists_the_api(client):
    links = client.get("/").json()
    assert {name: link.removeprefix("http://testserver") for name, link in links.items()} == {
        "workflows": "/api/workflows/",
        "testcases": "/api/testcases/",
        "health": "/api/health/",
        "schema": "/api/schema/",
        "docs": "/api/docs/",
    }


def test_testcases_list_their_steps_and_the_job_data_each_needs(client):
    testcases = client.get("/api/testcases/").json()
    assert [(case["name"], [step["name"] for step in case["steps"]]) for case in testcases] == [
        ("ESG-TC01", ["div", "mul", "add", "sub"]),
        ("ESG-TC02", ["div", "mul"]),
        ("ESG-TC03", ["add", "sub"]),
    ]
    tc02 = client.get("/api/testcases/ESG-TC02/").json()
    assert tc02 == testcases[1]
    assert tc02["steps"] == [
        {"name": "div", "task": "steps.div", "operands": 2},
        {"name": "mul", "task": "steps.mul", "operands": 1},
    ]
    assert tc02["job_data"] == {"div": "a list of 2 numbers", "mul": "a list of 1 number"}
    assert tc02["example"] == TC02


@pytest.mark.parametrize("name", list(TESTCASES))
def test_every_testcase_names_tasks_of_the_api_and_its_example_is_valid(name):
    for step in TESTCASES[name].steps:
        assert getattr(tasks, step).name in celery_app.tasks
        assert getattr(tasks, step).name == f"steps.{step}"
    assert job_data_errors(name, TESTCASES[name].example) == {}


def test_the_schema_is_openapi_3_and_names_every_endpoint(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/",
        "/api/workflows/",
        "/api/workflows/{id}/",
        "/api/workflows/{id}/cancel/",
        "/api/testcases/",
        "/api/health/",
    } <= set(schema["paths"])


def test_the_docs_page_needs_nothing_from_the_internet(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "http://" not in html
    assert "https://" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content)
        response.close()


def test_health_says_every_service_answers(client):
    response = client.get("/api/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "services": {"broker": "ok", "result_store": "ok", "database": "ok"},
    }


def test_manage_py_watch_prints_each_step_in_order_until_the_end(client):
    workflow = start(client, "ESG-TC02", TC02).json()
    out = io.StringIO()
    call_command("watch", workflow["id"], "--interval", "0.05", stdout=out)
    assert out.getvalue().splitlines() == [
        "div    STARTED",
        "div    SUCCESS 2.0",
        "mul    STARTED",
        "mul    SUCCESS 6.0",
        "ESG-TC02: SUCCESS, result 6.0",
    ]


def test_manage_py_watch_redraws_a_table_on_a_terminal(client):
    workflow = start(client, "ESG-TC03", TC03).json()
    out = Terminal()
    call_command("watch", workflow["id"], "--interval", "0.05", stdout=out)
    assert "\x1b[3F" in out.getvalue()
    last_table = out.getvalue().rpartition("\x1b[3F")[2].splitlines()
    assert last_table[0].startswith("ESG-TC03  SUCCESS  2/2")
    assert [line.split()[:2] for line in last_table[1:3]] == [
        ["add", "SUCCESS"],
        ["sub", "SUCCESS"],
    ]
    assert last_table[-1] == "ESG-TC03: SUCCESS, result 4"


def test_manage_py_watch_fails_on_a_failed_workflow_and_an_unknown_id(client):
    workflow = start(client, "ESG-TC02", {"div": [1e308, 1e-308], "mul": [3]}).json()
    with pytest.raises(CommandError, match="the workflow ended in FAILURE"):
        call_command("watch", workflow["id"], "--interval", "0.05", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no workflow has the id 'not-an-id'"):
        call_command("watch", "not-an-id", stdout=io.StringIO())
