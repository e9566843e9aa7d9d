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
import socket
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

from sprout.api import API, FINISHED, ApiServer, Beat, api_env
from sprout.processes import die_with_parent, free_port, wait_until_answers
from sprout.services import broker_connection, embedded
from sprout.worker import API_QUEUE_VARIABLES, DayWorker
from tests.support.days import unique_queue
from tests.support.readme_blocks import (
    assert_prints,
    assert_starts_the_worker,
    readme_block,
    run_command,
    run_script,
    shell_env,
    substitute,
)
from tests.support.webhooks import SECRET

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


# The old tutorial's two commands, as api/README.md's "Run it" gives them; the ids that the
# old tutorial printed, for the second (the README's <id>).
TUTORIAL = readme_block(
    "api/README.md",
    """curl -d 'testcase=ESG-TC02' -d 'job_data={"div" : [4, 2], "mul" : [3]}' -X POST""",
)
TUTORIAL_POST, TUTORIAL_GET = TUTORIAL.commands
OLD_IDS = ["e2f970f6-52ed-48fe-ad4c-93c31d312f92", "303c37f8-f079-4bc7-a0b4-b311c6fdb65e"]
RUNSERVER = readme_block("api/README.md", "DJANGO_DEBUG=1 API_ALLOW_ANONYMOUS=1 python manage.py")


def send(command, port):
    """A curl command of the README, sent to ``port`` rather than 8000, the only difference.

    curl itself runs it when it is installed (with ``--include``, for the
    status and the headers); otherwise urllib sends the same request: curl's
    ``-d`` fields joined with ``&``, as a form, with ``-X``'s method. The
    answer's status, its headers (lower-case names) and its body.
    """
    command = substitute(command, port=port)
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
    manage.py runserver``, read from the README, on a free port rather than 8000
    (``runserver <port>``, the only difference), with ``env`` on top: the test's database and
    its worker's queues.

    A session of its own stands for the terminal: ``stop`` is Ctrl+C, which
    reaches the server and its autoreloader's child alike.
    """

    def __init__(self, env):
        self.port = free_port()
        (words,) = RUNSERVER.words
        assignments = [word for word in words if "=" in word]
        python, *arguments = words[len(assignments) :]
        assert python == "python" and arguments == ["manage.py", "runserver"], RUNSERVER
        self.command = [sys.executable, *arguments, str(self.port)]
        self.env = api_env(
            {
                **env,
                **dict(assignment.split("=", 1) for assignment in assignments),
                # Its one reader's count of starts (API_START_RATE) in the shared
                # Redis, apart from another server's, as ApiServer keeps it.
                "API_CACHE_PREFIX": f"api-runserver-{self.port}",
            }
        )
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open while it runs; __exit__ closes it
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            self.command,
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
    if request.param == "gunicorn":
        with ApiServer(env) as server:
            yield server.port
        return
    # "Run it", terminal by terminal, in api/: the tables, the worker, beat, runserver.
    run_script(readme_block("api/README.md", "python manage.py migrate"), cwd=API, env=api_env(env))
    assert_starts_the_worker(
        readme_block("api/README.md", "celery -A config worker -l INFO"), api_worker
    )
    beat = Beat(env).start()
    try:
        (command,) = readme_block("api/README.md", "celery -A config beat -l INFO").words
        assert Path(beat.process.args[0]).name == command[0]
        assert beat.process.args[1:] == command[1:]
        with RunServer(env) as server:
            yield server.port
    finally:
        beat.stop()


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
    # The second command, with the ids the old tutorial printed.
    assert send_for_json(substitute(TUTORIAL_GET, id=OLD_IDS), port) == dict.fromkeys(
        OLD_IDS, "UNKNOWN"
    )
    ours = substitute(TUTORIAL_GET, id=task_ids)
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
                " error, tries, lost_runs, started_at, finished_at, updated_at, log, log_cut,"
                " history)"
                " VALUES (?, ?, ?, ?, 'SUCCESS', ?, '', 1, 0, datetime('now'), datetime('now'),"
                " datetime('now'), '', 0, '[]')",
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


# What comes after "Run it", in the chapters (api/chapters/), under the same server.


def public_example_com(folder):
    """The environment that lets the API's processes find example.com, the chapters' webhook
    receiver: none where DNS answers; elsewhere (no DNS, as on this course's machines) a
    ``sitecustomize`` in ``folder`` that gives it the public address DNS gives it, so that
    the API accepts it as a receiver. Nothing is ever delivered there from a test."""
    try:
        socket.getaddrinfo("example.com", 443)
        return {}
    except OSError:
        pass
    (folder / "sitecustomize.py").write_text(
        "import socket\n"
        "_getaddrinfo = socket.getaddrinfo\n"
        "def getaddrinfo(host, *args, **kwargs):\n"
        "    if host == 'example.com':\n"
        "        host = '93.184.215.14'\n"
        "    return _getaddrinfo(host, *args, **kwargs)\n"
        "socket.getaddrinfo = getaddrinfo\n"
    )
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    }


@pytest.fixture
def chapter_server(api_worker, tmp_path):
    """runserver as "Run it" starts it, on the test database, sending to this module's worker;
    with a WEBHOOK_SECRET, so that it takes a notify_url: its port."""
    env = {
        **api_worker.environment,
        "DATABASE_URL": api_worker.env["DATABASE_URL"],
        "WEBHOOK_SECRET": SECRET,
        **public_example_com(tmp_path),
    }
    with RunServer(env) as server:
        yield server.port


def wait_for_workflow(port, workflow_id, states=FINISHED, timeout=30):
    deadline = time.monotonic() + timeout
    url = f"curl http://localhost:8000/api/workflows/{workflow_id}/"
    while (workflow := send_for_json(url, port))["state"] not in states:
        assert time.monotonic() < deadline, workflow
        time.sleep(0.05)
    return workflow


def test_a_start_and_a_resume_sent_twice_with_one_key_start_one_workflow_each(chapter_server):
    port = chapter_server
    block = readme_block(
        "api/chapters/08_workflows_api.md", "curl -X POST http://localhost:8000/api/workflows/ \\"
    )
    start, resume = block.commands
    (status, _, first), (again, headers, second) = send(start, port), send(start, port)
    assert (status, again) == (202, 202), (first, second)
    assert json.loads(second)["id"] == json.loads(first)["id"]
    assert headers["idempotent-replayed"] == "true"
    # A workflow that failed (its division overflows), resumed with the README's key.
    failing = {"testcase": "ESG-TC02", "job_data": {"div": [1e308, 1e-308], "mul": [3]}}
    status, _, body = send(
        f"curl -H 'Content-Type: application/json' -d '{json.dumps(failing)}' "
        "http://localhost:8000/api/workflows/",
        port,
    )
    assert status == 202, body
    failed = wait_for_workflow(port, json.loads(body)["id"])
    assert failed["state"] == "FAILURE", failed
    resume = substitute(resume, id=failed["id"])
    (status, _, first), (again, headers, second) = send(resume, port), send(resume, port)
    assert (status, again) == (202, 202), (first, second)
    assert json.loads(second)["id"] == json.loads(first)["id"] != failed["id"]
    assert headers["idempotent-replayed"] == "true"


def make_user_and_token(env):
    """A user and their token, made with api/README.md's commands ("Before you deploy")."""
    block = readme_block(
        "api/README.md", "python manage.py migrate\npython manage.py createsuperuser"
    )
    create_user, create_token = block.commands[2:]
    assert "create_user('ada'" in create_user and create_token.endswith(" ada")
    for command in (create_user, create_token):
        done = subprocess.run(
            ["bash", "-c", command], cwd=API, env=shell_env(env), capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    return re.fullmatch(r"Generated token (\w+) for user ada\n", done.stdout).group(1)


def test_chapter_10_runs_as_written_its_workers_by_kind_webhooks_schedules_and_retention(
    tmp_path,
):
    """Chapter 10's "Run it", terminal by terminal, in api/, on a database of the test's own:
    the two workers read the API's own queues (workflows; notifications and maintenance),
    as the chapter names them, and runserver sends there."""
    env = api_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "TASK_DELAY": "0.1"})
    for name in API_QUEUE_VARIABLES:
        env.pop(name, None)
    run_script(
        readme_block("api/chapters/10_schedules_and_queues.md", "python manage.py migrate"),
        cwd=API,
        env=env,
    )
    ((export, assignment),) = readme_block(
        "api/chapters/10_schedules_and_queues.md", "export WEBHOOK_SECRET="
    ).words
    assert export == "export"
    env.update([assignment.split("=", 1)])
    block = readme_block(
        "api/chapters/10_schedules_and_queues.md", "celery -A config worker -l INFO -Q workflows"
    )
    workers = [
        DayWorker("api", folder=API, app="config", env=env, options=words[6:], documented=True)
        for words in block.words
    ]
    for worker, words in zip(workers, block.words, strict=True):
        assert worker.command == words and worker.environment == {}
    steps, background = workers
    beat = Beat(env)
    try:
        for worker in workers:
            worker.launch()
        for worker in workers:
            worker.wait_until_ready()
        (command,) = readme_block(
            "api/chapters/10_schedules_and_queues.md", "celery -A config beat -l INFO"
        ).words
        beat.start()
        assert Path(beat.process.args[0]).name == command[0]
        assert beat.process.args[1:] == command[1:]
        runserver = readme_block(
            "api/chapters/10_schedules_and_queues.md",
            "DJANGO_DEBUG=1 API_ALLOW_ANONYMOUS=1 python manage.py",
        )
        assert runserver.commands == RUNSERVER.commands
        with RunServer({**env, **public_example_com(tmp_path)}) as server:
            port = server.port
            # Terminal 5: which queues each worker reads.
            queues = run_script(
                readme_block(
                    "api/chapters/10_schedules_and_queues.md",
                    "celery -A config inspect active_queues",
                ),
                cwd=API,
                env=env,
            ).stdout
            for worker, names in [
                (steps, ["workflows"]),
                (background, ["notifications", "maintenance"]),
            ]:
                answer = re.search(
                    rf"->\s+{re.escape(worker.node)}: OK\n(.*?)(?=^->|\Z)", queues, re.M | re.S
                )
                assert answer, queues
                assert re.findall(r"\* {'name': '([\w.-]+)'", answer.group(1)) == names, queues
            # A start with a webhook's address: the steps run on terminal 1's worker.
            notify = readme_block(
                "api/chapters/10_schedules_and_queues.md",
                "curl -X POST http://localhost:8000/api/workflows/ -H",
            )
            status, _, body = send(notify.commands[0], port)
            assert status == 202, body
            workflow = json.loads(body)
            assert workflow["notify_url"] == "https://example.com/hooks"
            workflow = wait_for_workflow(port, workflow["id"])
            assert (workflow["state"], workflow["result"]) == ("SUCCESS", 6.0), workflow
            assert f"Task steps.div[{workflow['task_ids'][0]}] received" in steps.log()
            assert "steps.div[" not in background.log()
            # Schedules, with a user's token.
            token = make_user_and_token(env)
            make = readme_block(
                "api/chapters/10_schedules_and_queues.md",
                'curl -H "Authorization: Token $TOKEN" -H',
            )
            made = []
            for command in make.commands:
                status, _, body = send(substitute(command, TOKEN=token), port)
                assert status == 201, body
                made.append(json.loads(body))
            assert made[0]["every"] == 60
            assert made[1]["crontab"]["day_of_week"] == "1-5"
            change = readme_block(
                "api/chapters/10_schedules_and_queues.md",
                'curl -X POST -H "Authorization: Token $TOKEN"',
            )
            pause, resume, delete = (
                substitute(command, TOKEN=token, id=made[0]["id"]) for command in change.commands
            )
            status, _, body = send(pause, port)
            assert (status, json.loads(body)["enabled"]) == (200, False), body
            status, _, body = send(resume, port)
            assert (status, json.loads(body)["enabled"]) == (200, True), body
            assert send(delete, port)[0] == 204
            mine = send_for_json(
                f"curl -H 'Authorization: Token {token}' http://localhost:8000/api/schedules/", port
            )
            assert [schedule["id"] for schedule in mine["results"]] == [made[1]["id"]]
        # The retention, now, by its name: terminal 2 runs it.
        sent = run_script(
            readme_block(
                "api/chapters/10_schedules_and_queues.md",
                "celery -A config call maintenance.retention",
            ),
            cwd=API,
            env=env,
        )
        task_id = sent.stdout.strip()
        deadline = time.monotonic() + 30
        while f"maintenance.retention[{task_id}] succeeded" not in background.log():
            assert time.monotonic() < deadline, background.log()
            time.sleep(0.1)
    finally:
        beat.stop()
        for worker in workers:
            worker.stop()
        # The webhook's retries that the worker held go back to the queue: drop them.
        with broker_connection() as connection:
            for queue in ("notifications", "maintenance"):
                with contextlib.suppress(*connection.channel_errors):
                    connection.default_channel.queue_purge(queue)


def test_chapter_8_cancels_a_workflow_while_its_first_step_runs_resumes_and_watches_it(api_worker):
    """Chapter 8's "Run it" under runserver, with a worker of its own whose steps last 1 s, so
    that the cancel comes while the first step runs, as the chapter has it."""
    env = {"DATABASE_URL": api_worker.env["DATABASE_URL"], "TASK_DELAY": "1"}
    worker = DayWorker("api", folder=API, app="config", queue=unique_queue("chapter8"), env=env)
    block = readme_block(
        "api/chapters/08_workflows_api.md",
        'curl -H \'Content-Type: application/json\' -d \'{"testcase": "ESG-TC01"',
    )
    start, cancel, resume, watch = block.commands
    try:
        worker.start()
        with RunServer({**env, **worker.environment}) as server:
            status, _, body = send(start, server.port)
            assert status == 202, body
            first = json.loads(body)
            deadline = time.monotonic() + 30
            url = f"curl http://localhost:8000/api/workflows/{first['id']}/"
            while send_for_json(url, server.port)["steps"][0]["state"] != "STARTED":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            status, _, body = send(substitute(cancel, id=first["id"]), server.port)
            cancelled = json.loads(body)
            assert status == 200, body
            assert (cancelled["state"], cancelled["steps"][0]["state"]) == ("REVOKED", "STARTED")
            # Resumed once its running step has ended (before, the API answers 409).
            while send_for_json(url, server.port)["steps"][0]["state"] == "STARTED":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            status, _, body = send(substitute(resume, id=first["id"]), server.port)
            assert status == 202, body
            resumed = json.loads(body)
        # In api/, in the fourth terminal: watch the new workflow to its end.
        assert watch.startswith("python manage.py watch ")
        done = run_command(block, 3, cwd=API, env=api_env(env), id=resumed["id"])
        assert done.stdout.splitlines()[-1] == "ESG-TC01: SUCCESS, result 10.0", done.stdout
    finally:
        worker.stop()
        worker.delete_queue()


@pytest.mark.skipif(
    embedded(),
    reason="a worker killed on the embedded stack loses the messages it had read, as chapter 9 "
    "says: its walk-through is RabbitMQ's",
)
def test_chapter_9_runs_as_written_a_killed_worker_and_a_lost_message(tmp_path):
    """Chapter 9's "Run it", terminal by terminal, in api/, on a database of the test's own and
    the API's own queue names, with steps of 1 s rather than 5: the worker killed while
    ``mul`` runs, then a message purged and the repair that sends it again."""
    env = api_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "TASK_DELAY": "1"})
    for name in API_QUEUE_VARIABLES:
        env.pop(name, None)
    run_script(readme_block("api/README.md", "python manage.py migrate"), cwd=API, env=env)
    ((*_, pidfile),) = readme_block(
        "api/chapters/09_keeping_work_safe.md", "celery -A config worker -l INFO --pidfile="
    ).words

    def terminal_1(words, extra=None):
        assert words[:6] == ["celery", "-A", "config", "worker", "-l", "INFO"], words
        worker = DayWorker(
            "api", folder=API, app="config", env={**env, **(extra or {})}, options=words[6:],
            documented=True,
        )  # fmt: skip
        assert worker.command == words
        return worker.start()

    ((worker_words),) = readme_block(
        "api/chapters/09_keeping_work_safe.md", "celery -A config worker -l INFO --pidfile="
    ).words
    runserver = readme_block(
        "api/chapters/09_keeping_work_safe.md",
        "DJANGO_DEBUG=1 API_ALLOW_ANONYMOUS=1 python manage.py",
    )
    assert runserver.commands == RUNSERVER.commands
    start = readme_block(
        "api/chapters/09_keeping_work_safe.md", "curl -s -H 'Content-Type: application/json'"
    )
    kill = readme_block(
        "api/chapters/09_keeping_work_safe.md", "kill -KILL $(cat /tmp/celery-worker.pid)"
    )
    tries = readme_block(
        "api/chapters/09_keeping_work_safe.md",
        "curl -s http://localhost:8000/api/workflows/<id>/ | python -c",
    )
    purge = readme_block(
        "api/chapters/09_keeping_work_safe.md", "celery -A config purge -f -Q workflows"
    )
    ((assignment, *stalled_words),) = readme_block(
        "api/chapters/09_keeping_work_safe.md", "STEP_STALLED_AFTER=20 celery"
    ).words
    ((repair_every, *beat_words),) = readme_block(
        "api/chapters/09_keeping_work_safe.md", "REPAIR_EVERY=5 celery -A"
    ).words
    worker, beat = terminal_1(worker_words), None
    try:
        assert pidfile == "--pidfile=/tmp/celery-worker.pid"
        with RunServer(env) as server:
            workflow = json.loads(run_script(start, port=server.port).stdout)
            url = f"curl http://localhost:8000/api/workflows/{workflow['id']}/"
            deadline = time.monotonic() + 30
            while send_for_json(url, server.port)["steps"][1]["state"] != "STARTED":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            run_script(kill)  # while mul runs
            worker.process.wait(10)
            worker.stop()
            worker = terminal_1(worker_words)  # the same command: it removes the stale pid file
            wait_for_workflow(server.port, workflow["id"])
            shown = run_script(tries, port=server.port, id=workflow["id"]).stdout
            assert_prints(tries, shown)
            # Lose a message: no worker reads the steps' queue when it is purged.
            worker.stop()
            workflow = json.loads(run_script(start, port=server.port).stdout)
            assert_prints(purge, run_script(purge, cwd=API, env=env).stdout)
            name, _, value = assignment.partition("=")
            worker = terminal_1(stalled_words, {name: value})
            name, _, value = repair_every.partition("=")
            beat = Beat({**env, name: value}).start()
            assert Path(beat.process.args[0]).name == beat_words[0]
            assert beat.process.args[1:] == beat_words[1:]
            # The repair finds the step whose record has not moved for 20 s, and sends it again.
            workflow = wait_for_workflow(server.port, workflow["id"], timeout=120)
            assert (workflow["state"], workflow["result"]) == ("SUCCESS", 10.0), workflow
            assert "its message was lost" in worker.log(), worker.log()
    finally:
        if beat is not None:
            beat.stop()
        worker.stop()
