"""The workflows API (api/): day 7's job chain started and followed through Django REST Framework.

The API's worker runs from api/, as ``celery -A config worker`` does, on a
queue of its own; the API in this process sends the steps there. The worker
writes every step into the test database, where the API reads it: the tests
commit what they write (``transaction=True``). Everything runs against the
live broker and result store.
"""

import io
import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from django.core.management import CommandError, call_command

from config import celery_app
from runs import jobs, tasks
from runs.models import Step, Workflow
from runs.serializers import job_data_errors
from runs.testcases import TESTCASES
from sprout.api import API
from tests.support import workflows as support_workflows
from tests.support.readme_blocks import readme_block
from tests.support.recording import Terminal, record_redis_commands, task_log
from tests.support.workflows import wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

# Each step sleeps this long on the worker: short, yet long enough to see STARTED.
TASK_DELAY = os.environ.get("TASK_DELAY", "0.5")
API_WORKER_ENV = {"TASK_DELAY": TASK_DELAY}

# The queries a request makes to know who asks: the test client's session, then its user.
SIGNED_IN = 2

TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
TC02 = {"div": [4, 2], "mul": [3]}
TC03 = {"add": [3, 2], "sub": [1]}

# The old tutorial's two commands, word for word.


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
    assert all(step["error"] is None and step["tries"] == 1 for step in tc01["steps"])
    assert [step["name"] for step in finished["ESG-TC03"]["steps"]] == ["add", "sub"]
    # The worker wrote each step's row as it ran, under the task ids the API stored.
    steps = Step.objects.filter(workflow_id=started["ESG-TC02"]["id"]).order_by("position")
    assert [(step.task_id, step.result) for step in steps] == list(
        zip(
            started["ESG-TC02"]["task_ids"], [{"div_result": 2.0}, {"mul_result": 6.0}], strict=True
        )
    )
    # Celery's result store keeps no start time; the database does.
    for step in steps:
        assert step.started_at < step.finished_at
    assert steps[0].finished_at <= steps[1].started_at


def test_a_new_workflow_answers_202_with_its_location_and_its_task_ids_in_order(client):
    response = start(client, "ESG-TC02", TC02)
    workflow = response.json()
    assert response["Location"] == workflow["links"]["self"]
    assert workflow["links"]["self"].endswith(f"/api/workflows/{workflow['id']}/")
    assert workflow["testcase"] == "ESG-TC02"
    assert workflow["job_data"] == TC02
    assert [step["task_id"] for step in workflow["steps"]] == workflow["task_ids"]
    assert [step.task_id for step in Step.objects.filter(workflow_id=workflow["id"])] == (
        workflow["task_ids"]
    )
    assert workflow["state"] in {"PENDING", "STARTED"}
    assert workflow["progress"] == "0/2"


def test_the_api_takes_json_and_the_site_root_the_old_tutorials_form(client):
    form = 'testcase=ESG-TC03&job_data={"add" : [3, 2], "sub" : [1]}'
    refused = client.post("/api/workflows/", form, content_type="application/x-www-form-urlencoded")
    assert refused.status_code == 415
    assert Workflow.objects.count() == 0
    response = client.post("/", form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202, response.json()
    workflow = Workflow.objects.get()
    assert (workflow.testcase, workflow.job_data) == ("ESG-TC03", TC03)
    assert response.json() == [step.task_id for step in workflow.steps.all()]


def stored_workflow(testcase="ESG-TC02", steps=("div", "mul"), job_data=TC02):
    """A workflow in the database only: its steps are never sent, and stay PENDING."""
    workflow = Workflow.objects.create(testcase=testcase, job_data=job_data)
    Step.objects.bulk_create(
        Step(workflow=workflow, position=position, name=name, task_id=str(uuid.uuid4()))
        for position, name in enumerate(steps)
    )
    return workflow


def test_reading_a_workflow_asks_the_database_for_its_steps_once(
    client, count_redis_commands, django_assert_num_queries
):
    location = start(client, "ESG-TC01", TC01)["Location"]
    count_redis_commands.clear()
    # Who asks (their session, then their user), the workflow, then all its
    # steps: the result store is not asked at all.
    with django_assert_num_queries(SIGNED_IN + 2):
        workflow = client.get(location).json()
    assert len(workflow["steps"]) == 4
    assert count_redis_commands == []


def test_reading_a_hundred_steps_is_one_query(client, django_assert_num_queries):
    workflow = stored_workflow("ESG-TC01", ["div"] + ["mul"] * 99)
    with django_assert_num_queries(SIGNED_IN + 2):
        steps = client.get(f"/api/workflows/{workflow.id}/").json()["steps"]
    assert [step["state"] for step in steps] == ["PENDING"] * 100


def test_the_list_is_paged_newest_first_and_read_in_one_query_for_all_steps(
    client, count_redis_commands, django_assert_num_queries
):
    created = [stored_workflow() for _ in range(21)]
    count_redis_commands.clear()
    # Who asks, how many there are, the page of workflows, and all their steps.
    with django_assert_num_queries(SIGNED_IN + 3):
        page = client.get("/api/workflows/").json()
    assert count_redis_commands == []
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
    # A permanent error fails the step at once: it is not tried again.
    assert div["tries"] == 1
    assert div["finished_at"] is not None
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
    first = Step.objects.get(task_id=workflow["task_ids"][0])
    while first.state not in {"SUCCESS", "REVOKED"}:
        assert time.monotonic() < deadline, first
        time.sleep(0.05)
        first.refresh_from_db()
    time.sleep(float(TASK_DELAY) + 0.2)
    after = client.get(workflow["links"]["self"]).json()
    assert after["state"] == "REVOKED"
    assert [step["state"] for step in after["steps"][1:]] == ["REVOKED"] * 3
    # Cancelling again changes nothing.
    again = client.post(workflow["links"]["cancel"]).json()
    assert again["cancelled_at"] == cancelled["cancelled_at"]


def wait_for_state(task_id, states):
    """The step ``task_id``'s row, once its state is one of ``states``."""
    return support_workflows.wait_for_state(Step.objects.get(task_id=task_id), states)


def test_cancel_answers_409_for_a_workflow_that_ended_without_being_cancelled(client):
    done = wait_until_finished(client, start(client, "ESG-TC02", TC02)["Location"])
    response = client.post(done["links"]["cancel"])
    assert response.status_code == 409
    assert response.json() == {
        "detail": "the workflow has already finished (SUCCESS): nothing to cancel"
    }
    # A FAILURE one answers the same (test_a_failed_step_says_why_and_the_steps_after_it_did_not_run).


def test_a_cancelled_workflow_reads_revoked_while_its_running_step_runs_to_its_end(client):
    workflow = start(client, "ESG-TC02", TC02).json()
    wait_for_state(workflow["task_ids"][0], {"STARTED"})
    cancelled = client.post(workflow["links"]["cancel"]).json()
    # Celery's revoke does not stop a task that has started: div still runs.
    assert cancelled["state"] == "REVOKED"
    assert [step["state"] for step in cancelled["steps"]] == ["STARTED", "REVOKED"]
    wait_for_state(workflow["task_ids"][0], {"SUCCESS"})
    after = client.get(workflow["links"]["self"]).json()
    assert (after["state"], after["progress"]) == ("REVOKED", "1/2")
    assert [step["state"] for step in after["steps"]] == ["SUCCESS", "REVOKED"]
    # Cancelling again answers 200, and changes nothing.
    again = client.post(workflow["links"]["cancel"])
    assert (again.status_code, again.json()) == (200, after)


def test_a_cancelled_workflow_whose_last_step_was_running_ends_as_that_step_does(client):
    workflow = start(client, "ESG-TC02", TC02).json()
    wait_for_state(workflow["task_ids"][1], {"STARTED"})
    cancelled = client.post(workflow["links"]["cancel"]).json()
    assert cancelled["state"] == "REVOKED"
    assert [step["state"] for step in cancelled["steps"]] == ["SUCCESS", "STARTED"]
    wait_for_state(workflow["task_ids"][1], {"SUCCESS"})
    # Every step succeeded: the workflow is SUCCESS, cancelled or not.
    after = client.get(workflow["links"]["self"]).json()
    assert (after["state"], after["result"]) == ("SUCCESS", 6.0)
    assert after["cancelled_at"] == cancelled["cancelled_at"]
    # A cancelled workflow answers 200 again, not 409, whatever it reads.
    again = client.post(workflow["links"]["cancel"])
    assert (again.status_code, again.json()) == (200, after)


def test_relaunch_starts_a_new_workflow_with_the_same_testcase_and_job_data(client):
    first = wait_until_finished(client, start(client, "ESG-TC02", TC02)["Location"])
    response = client.post(first["links"]["relaunch"])
    assert response.status_code == 202, response.json()
    again = response.json()
    assert response["Location"] == again["links"]["self"] != first["links"]["self"]
    assert (again["testcase"], again["job_data"]) == ("ESG-TC02", TC02)
    assert not set(again["task_ids"]) & set(first["task_ids"])
    assert wait_until_finished(client, again["links"]["self"])["result"] == 6.0


def test_resume_runs_a_cancelled_workflow_on_from_its_first_step_that_did_not_succeed(client):
    workflow = start(client, "ESG-TC01", TC01).json()
    wait_for_state(workflow["task_ids"][0], {"STARTED"})
    client.post(workflow["links"]["cancel"])
    wait_for_state(workflow["task_ids"][0], {"SUCCESS"})
    response = client.post(workflow["links"]["resume"])
    assert response.status_code == 202, response.json()
    resumed = response.json()
    assert resumed["resumed_from"] == workflow["id"]
    assert response["Location"] == resumed["links"]["self"]
    # div succeeded: carried over with its result, without a task of its own.
    div, *later = resumed["steps"]
    assert (div["state"], div["result"], div["task_id"], div["tries"]) == ("SUCCESS", 2.0, None, 1)
    assert {step["state"] for step in later} <= {"PENDING", "STARTED"}
    assert not {step["task_id"] for step in later} & set(workflow["task_ids"])
    finished = wait_until_finished(client, resumed["links"]["self"])
    assert (finished["state"], finished["progress"], finished["result"]) == ("SUCCESS", "4/4", 10.0)
    # div ran once, in the first workflow; mul was handed its result, 2.0.
    assert Step.objects.get(task_id=workflow["task_ids"][0]).tries == 1
    assert finished["steps"][1]["result"] == 6.0
    # The cancelled workflow is kept as it was.
    assert client.get(workflow["links"]["self"]).json()["state"] == "REVOKED"


def test_resume_hands_a_failed_step_the_last_result_and_runs_no_step_that_succeeded(client):
    # 1e308 times 10.0 overflows: mul fails, with div's result as its input.
    # (10.0, a float, because PostgreSQL's jsonb stores div's 1e308 as the
    # integer 10**308, and an integer times 10 does not overflow.)
    job_data = {"div": [1e308, 1], "mul": [10.0], "add": [6], "sub": [2]}
    failed = wait_until_finished(client, start(client, "ESG-TC01", job_data)["Location"])
    assert (failed["state"], failed["progress"]) == ("FAILURE", "1/4")
    response = client.post(failed["links"]["resume"])
    assert response.status_code == 202, response.json()
    resumed = wait_until_finished(client, response["Location"])
    assert [(step["state"], step["tries"]) for step in resumed["steps"]] == [
        ("SUCCESS", 1),
        ("FAILURE", 1),
        ("NOT_RUN", 0),
        ("NOT_RUN", 0),
    ]
    assert resumed["steps"][0]["task_id"] is None
    assert resumed["error"] == failed["error"]
    assert "too large for a number: inf" in resumed["error"]


def test_resume_answers_409_for_a_running_or_a_successful_workflow(client):
    running = start(client, "ESG-TC02", TC02).json()
    response = client.post(running["links"]["resume"])
    assert response.status_code == 409
    assert "only a FAILURE or REVOKED workflow can be resumed" in response.json()["detail"]
    done = wait_until_finished(client, running["links"]["self"])
    response = client.post(done["links"]["resume"])
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "the workflow is SUCCESS: only a FAILURE or REVOKED workflow can be resumed, "
        "and nothing is left to run"
    )


def test_resume_waits_for_a_cancelled_workflows_running_step(client):
    workflow = start(client, "ESG-TC02", TC02).json()
    wait_for_state(workflow["task_ids"][0], {"STARTED"})
    client.post(workflow["links"]["cancel"])
    response = client.post(workflow["links"]["resume"])
    assert response.status_code == 409
    assert response.json()["detail"] == ("step 'div' is still running: resume once it has finished")


def test_a_step_delivered_again_after_it_succeeded_hands_on_its_recorded_result(client, api):
    workflow = wait_until_finished(client, start(client, "ESG-TC02", TC02)["Location"])
    div = Step.objects.get(task_id=workflow["task_ids"][0])
    # What the database holds is what a second delivery hands on: it does not compute again.
    div.result = {"div_result": 42.0}
    div.save()
    # Redis forgets the first run's result (as after result_expires) ...
    celery_app.AsyncResult(div.task_id).forget()
    # ... and the step's message comes again.
    again = celery_app.send_task("steps.div", kwargs={"job_data": TC02}, task_id=div.task_id)
    assert again.get(timeout=10) == {"div_result": 42.0}
    div.refresh_from_db()
    assert (div.state, div.tries) == ("SUCCESS", 1)
    # Its log: the first run (started, succeeded, ended), then the second, which never started.
    lines = task_log(api, div.task_id, count=6)
    assert "already succeeded: handing on its recorded result" in lines
    assert sum(line.startswith("started with") for line in lines) == 1


def test_a_step_the_database_marks_revoked_never_runs_even_where_no_revoke_arrived(api):
    workflow = stored_workflow()
    div = workflow.steps.get(position=0)
    div.state = "REVOKED"
    div.save()
    # Sent straight to the worker, with no revoke broadcast: the worker reads the row.
    celery_app.send_task("steps.div", kwargs={"job_data": TC02}, task_id=div.task_id)
    deadline = time.monotonic() + 10
    while f"[{div.task_id}] ignored" not in api.log():
        assert time.monotonic() < deadline, api.log()[-2000:]
        time.sleep(0.05)
    div.refresh_from_db()
    assert (div.state, div.tries) == ("REVOKED", 0)


def test_a_chain_sent_straight_to_the_worker_runs_without_a_record(api):
    # As on days 4 to 7: no workflow, no row, and the steps run all the same.
    assert jobs.job_chain(["div", "mul"], TC02).apply_async().get(timeout=10) == {"mul_result": 6.0}


def test_sqlite_keeps_a_write_ahead_log_for_many_writers(tmp_path):
    # The API's settings on a SQLite file of its own, whatever database this run uses.
    script = (
        "from django.db import connection; cursor = connection.cursor(); "
        "print([cursor.execute(f'PRAGMA {name}').fetchone()[0] "
        "for name in ('journal_mode', 'synchronous', 'busy_timeout')])"
    )
    completed = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=API,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # WAL; synchronous NORMAL (1), safe with a write-ahead log; 20 s of waiting for the lock.
    assert completed.stdout.split("\n")[-2] == "['wal', 1, 20000]", completed.stdout


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
        "pages": "/workflows/",
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


def watch_transcripts():
    """api/README.md's transcripts of ``manage.py watch``: what it shows on a terminal, and
    in a pipe (its command ends with ``| cat``), each as lines."""
    terminal = readme_block(
        "api/README.md", "$ python manage.py watch 2b08caaa-08e8-46e9-aa62-843624b92950"
    )
    pipe = readme_block(
        "api/README.md", "$ python manage.py watch 2b08caaa-08e8-46e9-aa62-843624b92950 | cat"
    )
    assert pipe.commands == [terminal.commands[0] + " | cat"]
    return {"terminal": terminal.output, "pipe": pipe.output}


def masked(lines):
    """``lines`` with their ids and times masked: what may differ from one run to the next."""
    uuid_pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    return [
        re.sub(r" *\d+\.\d s\b", " <time>", re.sub(uuid_pattern, "<id>", line)) for line in lines
    ]


def last_drawing(output):
    """What a terminal shows once ``output`` is drawn: after the last move back up, without the
    ends of lines that it clears."""
    return re.split(r"\x1b\[\d+F", output)[-1].replace("\x1b[K", "").splitlines()


def test_manage_py_watch_prints_each_step_in_order_until_the_end_as_the_readme_shows(client):
    workflow = start(client, "ESG-TC01", TC01).json()
    out = io.StringIO()
    call_command("watch", workflow["id"], "--interval", "0.05", stdout=out)
    assert masked(out.getvalue().splitlines()) == masked(watch_transcripts()["pipe"])


def test_manage_py_watch_redraws_a_table_on_a_terminal_as_the_readme_shows(client):
    workflow = start(client, "ESG-TC01", TC01).json()
    out = Terminal()
    call_command("watch", workflow["id"], "--interval", "0.05", stdout=out)
    # The table of a header, a line naming the columns and a line a step, drawn again in place.
    assert "\x1b[6F" in out.getvalue()
    assert masked(last_drawing(out.getvalue())) == masked(watch_transcripts()["terminal"])


def test_manage_py_watch_shows_how_long_a_step_took_from_its_record(client):
    # Watched once the workflow has finished, the steps took what their records say.
    workflow = wait_until_finished(client, start(client, "ESG-TC03", TC03)["Location"])
    out = Terminal()
    call_command("watch", workflow["id"], stdout=out)
    took = [float(line.split()[2]) for line in last_drawing(out.getvalue())[2:4]]
    assert all(float(TASK_DELAY) <= seconds < float(TASK_DELAY) + 2 for seconds in took), took


def test_manage_py_watch_fails_on_a_failed_workflow_and_an_unknown_id(client):
    workflow = start(client, "ESG-TC02", {"div": [1e308, 1e-308], "mul": [3]}).json()
    with pytest.raises(CommandError, match="the workflow ended in FAILURE"):
        call_command("watch", workflow["id"], "--interval", "0.05", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no workflow has the id 'not-an-id'"):
        call_command("watch", "not-an-id", stdout=io.StringIO())
