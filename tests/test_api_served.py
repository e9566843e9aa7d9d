"""The API served by gunicorn, as in production: the old tutorial's two commands as it wrote
them, and what the API and its pages answer when its broker and result store are away.

The other modules of the API's tests ask Django's test client; these start
the server itself (``sprout.api.ApiServer``), on a SQLite file of its own or
on the test database, and send it real requests.
"""

import http.cookiejar
import json
import re
import shlex
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from sprout.api import ApiServer
from sprout.processes import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.starts("the API under gunicorn")]

API_WORKER_ENV = {"TASK_DELAY": "0.1"}
TC02 = {"div": [4, 2], "mul": [3]}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def form(**fields):
    return "&".join(f"{name}={value}" for name, value in fields.items())


TUTORIAL_POST = """curl -d 'testcase=ESG-TC02' -d 'job_data={"div" : [4, 2], "mul" : [3]}' -X POST http://localhost:8000"""
TUTORIAL_GET = """curl -d 'task_list=["e2f970f6-52ed-48fe-ad4c-93c31d312f92","303c37f8-f079-4bc7-a0b4-b311c6fdb65e"]' -X GET http://localhost:8000"""


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
    env = {**api_worker.environment, "DATABASE_URL": api_worker.env["DATABASE_URL"]}
    with ApiServer(env) as server:
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


@pytest.fixture(scope="module")
def api_without_services():
    """The API served with its broker and result store on ports where nothing listens."""
    closed = free_port()
    env = {
        # A broker and a result store that are servers, whatever stack this run is on.
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{closed}//",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{closed}/0",
    }
    with ApiServer(env) as server:
        yield server


def store_workflow(server):
    """A finished workflow in the server's database, as if it had run before the services went down."""
    task_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    workflow_id = uuid.uuid4()
    with sqlite3.connect(Path(server.folder.name) / "db.sqlite3") as database:
        database.execute(
            "INSERT INTO runs_workflow (id, testcase, job_data, created_at, notify_url)"
            " VALUES (?, ?, ?, datetime('now'), '')",
            (workflow_id.hex, "ESG-TC02", json.dumps(TC02)),
        )
        for position, (name, task_id, result) in enumerate(
            zip(["div", "mul"], task_ids, [{"div_result": 2.0}, {"mul_result": 6.0}], strict=True)
        ):
            database.execute(
                "INSERT INTO runs_step (workflow_id, position, name, task_id, state, result,"
                " error, tries, lost_runs, started_at, finished_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'SUCCESS', ?, '', 1, 0, datetime('now'), datetime('now'),"
                " datetime('now'))",
                (workflow_id.hex, position, name, task_id, json.dumps(result)),
            )
    return workflow_id, task_ids


TUTORIAL_JOB = form(testcase="ESG-TC02", job_data='{"div" : [4, 2], "mul" : [3]}')


@pytest.mark.parametrize(
    ("path", "data", "content_type"),
    [
        ("/api/workflows/", json.dumps({"testcase": "ESG-TC02", "job_data": TC02}), JSON),
        ("/", TUTORIAL_JOB, FORM),
    ],
)
def test_without_a_broker_no_workflow_starts_and_the_answer_is_503(
    api_without_services, path, data, content_type
):
    status, answer, seconds = api_without_services.request("POST", path, data, content_type)
    assert status == 503
    assert answer["service"] == "broker"
    assert answer["detail"].startswith("the broker (RabbitMQ) is not reachable")
    assert seconds < 5
    # Nothing was kept of the workflow that never started.
    status, answer, _ = api_without_services.request("GET", "/api/workflows/")
    assert (status, answer["count"]) == (200, 0)


def test_without_a_broker_or_a_result_store_a_finished_workflow_reads_as_before(
    api_without_services,
):
    # The database is the record of truth: reading needs neither RabbitMQ nor Redis.
    workflow_id, task_ids = store_workflow(api_without_services)
    status, workflow, _ = api_without_services.request("GET", f"/api/workflows/{workflow_id}/")
    assert status == 200, workflow
    assert (workflow["state"], workflow["progress"], workflow["result"]) == ("SUCCESS", "2/2", 6.0)
    query = "/?" + urlencode({"task_list": json.dumps(task_ids)})
    status, answer, _ = api_without_services.request("GET", query)
    assert (status, answer) == (200, dict.fromkeys(task_ids, "SUCCESS"))


def test_health_names_the_services_that_do_not_answer(api_without_services):
    status, answer, seconds = api_without_services.request("GET", "/api/health/")
    assert status == 503
    assert answer["status"] == "unavailable"
    assert answer["detail"] == "not reachable: broker, result_store"
    assert answer["services"]["database"] == "ok"
    assert "the broker at amqp://guest:**@127.0.0.1:" in answer["services"]["broker"]
    assert "the result store at redis://127.0.0.1:" in answer["services"]["result_store"]
    assert seconds < 5


def post_page_form(server, path, fields):
    """POST a page's form as a browser would: the page first, for its CSRF cookie and token.
    The status and the HTML of the answer."""
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = browser.open(f"{server.url}/workflows/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    body = urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
    try:
        with browser.open(f"{server.url}{path}", data=body, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_without_a_broker_the_pages_answer_503_in_the_apis_words(api_without_services):
    _, before, _ = api_without_services.request("GET", "/api/workflows/")
    status, page = post_page_form(
        api_without_services,
        "/workflows/",
        {"testcase": "ESG-TC02", "job_data": json.dumps(TC02)},
    )
    assert status == 503, page
    assert "the broker (RabbitMQ) is not reachable" in page
    _, after, _ = api_without_services.request("GET", "/api/workflows/")
    assert after["count"] == before["count"]
    # A page's button that starts a workflow answers the same.
    workflow_id, _ = store_workflow(api_without_services)
    status, page = post_page_form(api_without_services, f"/workflows/{workflow_id}/relaunch/", {})
    assert status == 503, page
    assert "the broker (RabbitMQ) is not reachable" in page
