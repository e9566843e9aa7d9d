"""The API served by gunicorn, as in production, and by Django's runserver, as api/README.md's
"Run it" serves it: the old tutorial's two commands as it wrote them, and what the API and its
pages answer when its broker and result store are away.

The other modules of the API's tests ask Django's test client; these start
the server itself (``sprout.api.ApiServer``, or ``RunServer`` here), on a
SQLite file of its own or on the test database, and send it real requests.
"""

import contextlib
import http.cookiejar
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from sprout.api import API, ApiServer, api_env
from sprout.processes import die_with_parent, free_port, wait_until_answers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.starts("the API under gunicorn, and under Django's runserver"),
]

API_WORKER_ENV = {"TASK_DELAY": "0.1"}
TC02 = {"div": [4, 2], "mul": [3]}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def form(**fields):
    return "&".join(f"{name}={value}" for name, value in fields.items())


TUTORIAL_POST = """curl -d 'testcase=ESG-TC02' -d 'job_data={"div" : [4, 2], "mul" : [3]}' -X POST http://localhost:8000"""
TUTORIAL_GET = """curl -d 'task_list=["e2f970f6-52ed-48fe-ad4c-93c31d312f92","303c37f8-f079-4bc7-a0b4-b311c6fdb65e"]' -X GET http://localhost:8000"""


def test_the_readme_runs_the_tutorials_commands_as_this_module_does():
    readme = (API / "README.md").read_text()
    assert "DJANGO_DEBUG=1 API_ALLOW_ANONYMOUS=1 python manage.py runserver\n" in readme
    assert TUTORIAL_POST in readme
    assert re.sub(r"\[.*\]", '["<id>","<id>"]', TUTORIAL_GET) in readme


def send(command, port):
    """A curl command of the README, sent to ``port`` rather than 8000, the only difference.

    curl itself runs it when it is installed (with ``--include``, for the
    status and the headers); otherwise urllib sends the same request: curl's
    ``-d`` fields joined with ``&``, as a form, with ``-X``'s method. The
    answer's status, its headers (lower-case names) and its body.
    """
    command = command.replace("localhost:8000", f"localhost:{port}")
    if shutil.which("curl"):
        completed = subprocess.run(
            [*shlex.split(command), "--include", "--silent", "--show-error"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        # Text mode reads curl's \r\n as \n.
        head, _, body = completed.stdout.partition("\n\n")
        status_line, *lines = head.splitlines()
        headers = dict(line.split(": ", 1) for line in lines)
        return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body
    words = iter(shlex.split(command)[1:])
    fields, method, url = [], None, None
    for word in words:
        if word == "-d":
            fields.append(next(words))
        elif word == "-X":
            method = next(words)
        else:
            url = word
    request = urllib.request.Request(
        url,
        data="&".join(fields).encode() if fields else None,
        method=method or ("POST" if fields else "GET"),
        headers={"Content-Type": FORM} if fields else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, headers, body = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        status, headers, body = refused.code, refused.headers, refused.read()
    return status, {k.lower(): v for k, v in headers.items()}, body.decode()


def send_for_json(command, port):
    status, _, body = send(command, port)
    assert status == 200, body
    return json.loads(body)


class RunServer:
    """api/README.md's third terminal, in api/: ``DJANGO_DEBUG=1 API_ALLOW_ANONYMOUS=1 python
    manage.py runserver``, on a free port rather than 8000 (``runserver <port>``, the only
    difference), with ``env`` on top: the test's database and its worker's queues.

    A session of its own stands for the terminal: ``stop`` is Ctrl+C, which
    reaches the server and its autoreloader's child alike.
    """

    def __init__(self, env):
        self.port = free_port()
        self.env = api_env(
            {
                **env,
                "DJANGO_DEBUG": "1",
                "API_ALLOW_ANONYMOUS": "1",
                # Its one reader's count of starts (API_START_RATE) in the shared
                # Redis, apart from another server's, as ApiServer keeps it.
                "API_CACHE_PREFIX": f"api-runserver-{self.port}",
            }
        )
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open while it runs; __exit__ closes it
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", str(self.port)],
            cwd=API, env=self.env, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        wait_until_answers(
            self.process, self.answers, name="runserver", timeout=30,
            log=self.output, stop=self.stop,
        )  # fmt: skip
        return self

    def answers(self):
        url = f"http://127.0.0.1:{self.port}/api/testcases/"
        try:
            urllib.request.urlopen(url, timeout=1).close()
        except OSError:
            return False
        return True

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        # The whole session, the autoreloader's child too, even if the parent has gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __exit__(self, *exc_info):
        self.stop()
        # What it printed (its tracebacks), for pytest to show when the test failed.
        print(self.output())
        self.log.close()


@pytest.fixture(params=["runserver", "gunicorn"])
def tutorial_server(request, api_worker):
    """The API as api/README.md's "Run it" serves it (runserver) and as deployed (gunicorn), on
    the test database, sending its steps to this module's worker: its port."""
    env = {**api_worker.environment, "DATABASE_URL": api_worker.env["DATABASE_URL"]}
    with RunServer(env) if request.param == "runserver" else ApiServer(env) as server:
        yield server.port


def test_the_old_tutorials_two_commands_work_as_written(tutorial_server):
    port = tutorial_server
    status, headers, body = send(TUTORIAL_POST, port)
    # Accepted, with the steps' task ids in order and the workflow's address: a header
    # that is a plain str, or runserver answers 500 (and the workflow runs all the same).
    assert status == 202, body
    task_ids = json.loads(body)
    workflow = send_for_json(f"curl {headers['location']}", port)
    assert workflow["task_ids"] == task_ids
    assert [step["name"] for step in workflow["steps"]] == ["div", "mul"]
    # The second command as the tutorial wrote it, with the ids it printed.
    assert send_for_json(TUTORIAL_GET, port) == {
        "e2f970f6-52ed-48fe-ad4c-93c31d312f92": "UNKNOWN",
        "303c37f8-f079-4bc7-a0b4-b311c6fdb65e": "UNKNOWN",
    }
    ours = re.sub(r"\[.*\]", json.dumps(task_ids).replace(" ", ""), TUTORIAL_GET)
    deadline = time.monotonic() + 30
    while (answer := send_for_json(ours, port)) != dict.fromkeys(task_ids, "SUCCESS"):
        assert time.monotonic() < deadline, answer
        assert set(answer.values()) <= {"PENDING", "STARTED", "SUCCESS"}
        time.sleep(0.05)
    # One workflow started, and ran once.
    workflows = send_for_json("curl http://localhost:8000/api/workflows/", port)
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
