"""Schedules (api/schedules/): a test case started by Celery beat every N seconds or on a crontab.

The API is driven in this process, as in test_api.py; the workflows that a
schedule starts run on the API's worker, on a queue of this module's own,
against the live broker and result store. The last test starts Celery beat
itself, with the README's command, on the test database: the schedule's
workflows start on time, pausing stops them, deleting forgets the schedule.
"""

import itertools
import json
import re
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token

from runs.models import Workflow
from schedules import tasks
from schedules.models import Schedule
from sprout.api import Beat
from sprout.worker import API_QUEUE_VARIABLES
from tests.support import api_stack
from tests.support.api_stack import database_url
from tests.support.workflows import wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True)]

# The workflows that schedules start run at once.
# The worker that the API's modules share (tests/support/api_stack.py).
API_WORKER_ENV = api_stack.SHARED_WORKER_ENV

TC02 = {"div": [4, 2], "mul": [3]}
EVERY_MINUTE = {"testcase": "ESG-TC02", "job_data": TC02, "every": 60}


def post_json(client, path, data):
    return client.post(path, json.dumps(data), content_type="application/json")


def member(django_user_model, name):
    """A user who is not staff, and a client that sends their token."""
    person = django_user_model.objects.create_user(name, password=f"{name}'s password")
    token = Token.objects.create(user=person)
    return person, Client(headers={"Authorization": f"Token {token.key}"})


def make(client, body=EVERY_MINUTE):
    response = post_json(client, "/api/schedules/", body)
    assert response.status_code == 201, response.json()
    return response.json()


# Making, reading, pausing and deleting schedules.


def test_a_schedule_every_n_seconds_is_a_periodic_task_that_beat_reads(client):
    made = post_json(client, "/api/schedules/", EVERY_MINUTE)
    assert made.status_code == 201
    schedule = made.json()
    assert made["Location"] == schedule["url"]
    assert schedule["testcase"] == "ESG-TC02"
    assert schedule["job_data"] == TC02
    assert schedule["every"] == 60
    assert schedule["crontab"] is None
    assert schedule["enabled"] is True
    assert schedule["runs"] == 0
    assert schedule["last_run_at"] is None
    # The first run, one interval after it was made.
    next_run = timezone.datetime.fromisoformat(schedule["next_run_at"])
    assert timedelta(seconds=55) < next_run - timezone.now() <= timedelta(seconds=60)
    assert set(schedule["links"]) == {"self", "pause", "resume", "workflows"}

    # What beat reads: the task to send, with the schedule's id, every 60 seconds.
    task = PeriodicTask.objects.get(workflow_schedule__id=schedule["id"])
    assert task.task == "maintenance.start_scheduled"
    assert json.loads(task.kwargs) == {"schedule_id": schedule["id"]}
    assert (task.interval.every, task.interval.period) == (60, "seconds")
    assert task.crontab is None
    assert task.enabled
    # A start that waited a minute for a worker is dropped: the next one is on its way.
    assert task.expire_seconds == 60
    assert client.get(f"/api/schedules/{schedule['id']}/").json() == schedule


def test_a_crontab_schedule_takes_cron_fields_in_utc_and_star_for_the_others(client):
    body = {"testcase": "ESG-TC02", "job_data": TC02, "crontab": {"minute": "*/15", "hour": "6"}}
    schedule = make(client, body)
    assert schedule["every"] is None
    assert schedule["crontab"] == {
        "minute": "*/15",
        "hour": "6",
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
    }
    crontab = PeriodicTask.objects.get(workflow_schedule__id=schedule["id"]).crontab
    assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("*/15", "6", "UTC")
    next_run = timezone.datetime.fromisoformat(schedule["next_run_at"])
    assert next_run.hour == 6 and next_run.minute % 15 == 0 and next_run > timezone.now()


ESG_TC02 = {"testcase": "ESG-TC02", "job_data": TC02}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            ESG_TC02,
            {
                "every": ["give every (seconds between runs) or crontab (when, as cron says)"],
                "crontab": ["give every (seconds between runs) or crontab (when, as cron says)"],
            },
        ),
        (
            {**ESG_TC02, "every": 5, "crontab": {"minute": "0"}},
            {"crontab": ["give every or crontab, not both"]},
        ),
        ({**ESG_TC02, "every": 0}, {"every": ["must be at least 1 second"]}),
        (
            {**ESG_TC02, "every": 400 * 24 * 3600},
            {"every": ["must be at most 31622400 seconds (a year)"]},
        ),
        (
            {**ESG_TC02, "every": "5"},
            {"every": ["must be a whole number of seconds, not a string"]},
        ),
        ({**ESG_TC02, "every": 2.5}, {"every": ["must be a whole number of seconds, not 2.5"]}),
        ({**ESG_TC02, "every": True}, {"every": ["must be a whole number of seconds, not true"]}),
        ({**ESG_TC02, "every": None}, {"every": ["may not be null: give every or crontab"]}),
        (
            {**ESG_TC02, "crontab": {"minute": "60"}},
            {
                "crontab": {
                    "minute": [
                        "is not a cron field of 0 to 59: *, */15, 5, 1-5, 1-30/2, or a list of "
                        "them such as 0,30"
                    ]
                }
            },
        ),
        (
            {**ESG_TC02, "crontab": {"day_of_week": 0}},
            {"crontab": {"day_of_week": ['must be text in cron\'s syntax, such as "*/15", not 0']}},
        ),
        (
            {**ESG_TC02, "crontab": {"second": "1"}},
            {
                "crontab": {
                    "second": [
                        "unknown field: a crontab has minute, hour, day_of_week, day_of_month, "
                        "month_of_year"
                    ]
                }
            },
        ),
        (
            {**ESG_TC02, "crontab": {"day_of_month": "31", "month_of_year": "2"}},
            {
                "crontab": {
                    "non_field_errors": [
                        "Invalid crontab: day_of_month '31' never occurs in month_of_year '2'."
                    ]
                }
            },
        ),
        (
            {**EVERY_MINUTE, "evry": 5},
            {
                "evry": [
                    "unknown field: a schedule takes testcase, job_data and notify_url, and "
                    "every or crontab"
                ]
            },
        ),
    ],
)
def test_when_it_runs_is_every_or_crontab_and_a_400_names_what_is_wrong(client, body, errors):
    refused = post_json(client, "/api/schedules/", body)
    assert refused.status_code == 400
    assert refused.json() == errors
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="maintenance.start_scheduled").exists()


@pytest.mark.parametrize(
    "start",
    [
        {"testcase": "ESG-TC99", "job_data": TC02},
        {"testcase": "ESG-TC02", "job_data": {"div": [4, 0]}},
        {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": ["3"], "add": [1]}},
        {"testcase": "ESG-TC02", "job_data": [1, 2]},
        {"testcase": "ESG-TC02"},
    ],
)
def test_what_a_schedule_starts_is_refused_in_the_words_of_a_workflow_start(client, start):
    # The workflow start refuses it first, before any worker could: same fields, same words.
    as_a_start = post_json(client, "/api/workflows/", start)
    assert as_a_start.status_code == 400
    refused = post_json(client, "/api/schedules/", {**start, "every": 5})
    assert refused.status_code == 400
    assert refused.json() == as_a_start.json()
    assert not Schedule.objects.exists()


def test_each_user_sees_their_own_schedules_and_staff_see_all(client, django_user_model):
    ada, ada_client = member(django_user_model, "ada")
    _, bob_client = member(django_user_model, "bob")
    adas = make(ada_client)
    bobs = make(bob_client)
    assert [s["id"] for s in ada_client.get("/api/schedules/").json()["results"]] == [adas["id"]]
    assert Schedule.objects.get(pk=adas["id"]).owner == ada
    # Another's schedule answers 404, as an id nobody issued, whatever is asked of it.
    other = f"/api/schedules/{bobs['id']}/"
    assert ada_client.get(other).status_code == 404
    assert ada_client.post(f"{other}pause/").status_code == 404
    assert ada_client.get(f"{other}workflows/").status_code == 404
    assert ada_client.delete(other).status_code == 404
    assert PeriodicTask.objects.get(workflow_schedule__id=bobs["id"]).enabled
    # Staff see every schedule.
    assert {s["id"] for s in client.get("/api/schedules/").json()["results"]} == {
        adas["id"],
        bobs["id"],
    }
    # Without a user: 401, as for the workflows.
    assert Client().get("/api/schedules/").status_code == 401
    assert post_json(Client(), "/api/schedules/", EVERY_MINUTE).status_code == 401


def test_pause_and_resume_switch_the_periodic_task_and_tell_beat(client):
    schedule = make(client)
    task = PeriodicTask.objects.get(workflow_schedule__id=schedule["id"])
    paused = client.post(schedule["links"]["pause"])
    assert paused.status_code == 200
    assert paused.json()["enabled"] is False
    assert paused.json()["next_run_at"] is None
    task.refresh_from_db()
    assert not task.enabled
    # Pausing a paused schedule changes nothing.
    assert client.post(schedule["links"]["pause"]).json()["enabled"] is False
    resumed = client.post(schedule["links"]["resume"]).json()
    assert resumed["enabled"] is True
    # One interval from the resume, not at once for the runs it missed.
    next_run = timezone.datetime.fromisoformat(resumed["next_run_at"])
    assert timedelta(seconds=55) < next_run - timezone.now() <= timedelta(seconds=60)
    task.refresh_from_db()
    assert task.enabled


def test_making_a_schedule_counts_as_a_start_against_the_rate(client, settings):
    # Counts of this test's own, in Redis: no other test's starts count against it.
    caches = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}}
    with override_settings(API_START_RATE="2/minute", CACHES=caches):
        make(client)
        make(client)
        refused = post_json(client, "/api/schedules/", EVERY_MINUTE)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert Schedule.objects.count() == 2


# What beat sends: maintenance.start_scheduled, sent to the module's worker as beat sends it.


def sent(worker, schedule_id, task_id=None):
    """Send the schedule's start, as beat does, and wait until ``worker`` has run it."""
    task_id = task_id or str(uuid.uuid4())
    tasks.start_scheduled.apply_async(kwargs={"schedule_id": schedule_id}, task_id=task_id)
    logged(worker, f"Task maintenance.start_scheduled[{task_id}] succeeded")


def logged(worker, text, timeout=30):
    """Wait until ``worker``'s log holds ``text``."""
    deadline = time.monotonic() + timeout
    while text not in worker.log():
        assert time.monotonic() < deadline, f"the worker never logged {text!r}"
        time.sleep(0.05)


def test_the_scheduled_start_is_an_ordinary_workflow_of_the_owner_that_names_its_schedule(
    django_user_model, api
):
    ada, ada_client = member(django_user_model, "ada")
    schedule = make(ada_client)
    sent(api, schedule["id"])
    workflow = Workflow.objects.get(schedule_id=schedule["id"])
    workflow_id = str(workflow.id)
    assert workflow.owner == ada
    assert wait_until_finished(ada_client, f"/api/workflows/{workflow_id}/")["result"] == 6.0
    # The schedule counts its runs, and lists them.
    again = ada_client.get(schedule["url"]).json()
    assert again["runs"] == 1
    assert again["last_run_at"] == workflow.created_at.isoformat().replace("+00:00", "Z")
    listed = ada_client.get(schedule["links"]["workflows"]).json()
    assert [w["id"] for w in listed["results"]] == [workflow_id]
    # Its page says which schedule started it.
    browser = Client()
    browser.force_login(ada)
    page = browser.get(f"/workflows/{workflow_id}/").content.decode()
    assert "Started by" in page and schedule["id"] in page


def test_a_run_delivered_twice_starts_one_workflow(client, api):
    """A worker that dies after the workflow was stored gets the run's message again: the
    second delivery, with the same task id, finds its Idempotency-Key taken."""
    schedule = make(client)
    run = str(uuid.uuid4())
    sent(api, schedule["id"], run)
    sent(api, schedule["id"], run)
    logged(api, f"run {run} started its workflow already: nothing started")
    assert Workflow.objects.filter(schedule_id=schedule["id"]).count() == 1


def test_a_schedule_paused_or_deleted_since_beat_sent_it_starts_nothing(client, api):
    schedule = make(client)
    client.post(schedule["links"]["pause"])
    sent(api, schedule["id"])
    logged(api, f"schedule {schedule['id']} is paused: nothing started")
    assert not Workflow.objects.filter(schedule_id=schedule["id"]).exists()
    client.post(schedule["links"]["resume"])
    sent(api, schedule["id"])
    workflow_id = Workflow.objects.get(schedule_id=schedule["id"]).pk
    deleted = client.delete(schedule["url"])
    assert deleted.status_code == 204
    sent(api, schedule["id"])
    logged(api, f"schedule {schedule['id']} no longer exists: nothing started")
    # Deleting a schedule deletes its periodic task; its workflows stay, without it.
    assert not PeriodicTask.objects.filter(name=f"schedule {schedule['id']}").exists()
    assert Workflow.objects.get(pk=workflow_id).schedule is None
    assert Workflow.objects.count() == 1
    assert client.get(schedule["url"]).status_code == 404


def test_deleting_the_owner_deletes_their_schedules_and_periodic_tasks(django_user_model):
    ada, ada_client = member(django_user_model, "ada")
    schedule = make(ada_client)
    ada.delete()
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(name=f"schedule {schedule['id']}").exists()


# The pages.


def test_the_schedules_page_adds_pauses_resumes_and_deletes_with_csrf(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/schedules/")
    assert page.status_code == 200
    token = page.context["csrf_token"]
    assert 'href="/schedules/"' in page.content.decode()  # in the navigation
    assert browser.post("/schedules/", {"testcase": "ESG-TC02"}).status_code == 403  # no token
    typed = {"csrfmiddlewaretoken": token, "testcase": "ESG-TC02", "job_data": json.dumps(TC02)}
    refused = browser.post("/schedules/", {**typed, "every": "0"})
    assert refused.status_code == 400
    assert "every must be at least 1 second" in refused.content.decode()
    assert browser.post("/schedules/", {**typed, "every": "30"}).status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.every, schedule.owner) == (30, user)
    listed = browser.get("/schedules/").content.decode()
    assert "every 30 s" in listed and f"/schedules/{schedule.id}/pause/" in listed
    for action, enabled in [("pause", False), ("resume", True)]:
        answer = browser.post(f"/schedules/{schedule.id}/{action}/", {"csrfmiddlewaretoken": token})
        assert answer.status_code == 302
        schedule.periodic_task.refresh_from_db()
        assert schedule.periodic_task.enabled is enabled
    answer = browser.post(f"/schedules/{schedule.id}/delete/", {"csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="maintenance.start_scheduled").exists()


# Celery beat itself, with the DatabaseScheduler, on the test database.

EVERY = 2
# How far a run may be from its time: beat sleeps until the next one is due, and
# the start it sends waits for a worker. On two busy cores one run came 0.7 s late:
# each gap must show no run skipped or sent twice, and the runs together keep time.
ON_TIME = 0.5
# The DatabaseScheduler looks for changes (a pause, a deletion) at each of its
# ticks, at least every 5 s (django_celery_beat.schedulers.DEFAULT_MAX_INTERVAL).
NOTICED_WITHIN = 5


@contextmanager
def beat(worker):
    """``celery -A config beat -l INFO`` in api/, on the test database, sending to ``worker``'s
    queues; its log, as text, while the block runs."""
    from django.db import connection

    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        **dict(zip(API_QUEUE_VARIABLES, worker.queues, strict=True)),
    }
    with Beat(env) as running:
        try:
            yield running.log
        finally:
            print(running.log())


def sends(log, schedule_id):
    """How many times beat's log says it sent the schedule's start."""
    return len(re.findall(rf"Sending due task schedule {schedule_id} ", log()))


def runs_of(schedule_id):
    return list(Workflow.objects.filter(schedule_id=schedule_id).order_by("created_at"))


def wait_for_runs(schedule_id, count, timeout):
    deadline = time.monotonic() + timeout
    while len(runs := runs_of(schedule_id)) < count:
        assert time.monotonic() < deadline, f"{len(runs)} runs within {timeout} s, not {count}"
        time.sleep(0.1)
    return runs


@pytest.mark.starts("celery beat")
def test_beat_starts_a_schedule_on_time_stops_when_paused_and_forgets_it_once_deleted(client, api):
    with beat(api) as log:
        schedule = make(client, {**ESG_TC02, "every": EVERY})
        name = schedule["id"]
        # Beat reads the new schedule at its next tick, then sends it every EVERY s.
        runs = wait_for_runs(name, 4, timeout=NOTICED_WITHIN + 4 * EVERY + 5)
        gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(runs)]
        assert all(EVERY / 2 < gap < EVERY * 3 / 2 for gap in gaps), gaps
        assert abs(sum(gaps) - EVERY * len(gaps)) <= ON_TIME * 2, gaps
        assert all(run.owner is not None for run in runs)

        paused = client.post(schedule["links"]["pause"])
        assert paused.json()["enabled"] is False
        paused_at = timezone.now()
        # By now beat has read the change, and what it sent before has run.
        time.sleep(NOTICED_WITHIN + EVERY)
        sent = sends(log, name)
        time.sleep(2 * EVERY + 1)
        assert sends(log, name) == sent, "beat still sends a paused schedule"
        # A start sent before beat read the pause runs, and starts nothing: it reads it too.
        assert not [run for run in runs_of(name) if run.created_at > paused_at], log()

        client.post(schedule["links"]["resume"])
        before = len(runs_of(name))
        wait_for_runs(name, before + 1, timeout=NOTICED_WITHIN + EVERY + 3)

        assert client.delete(schedule["url"]).status_code == 204
        assert not PeriodicTask.objects.filter(name=f"schedule {name}").exists()
        time.sleep(NOTICED_WITHIN + EVERY)
        sent = sends(log, name)
        time.sleep(2 * EVERY + 1)
        assert sends(log, name) == sent, "beat still sends a deleted schedule"
        # The workflows it started stay, without it.
        assert Workflow.objects.filter(schedule__isnull=True).count() >= before + 1
