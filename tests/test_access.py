"""Who may use the API and its pages, whose workflows each user sees, and the limits.

Every request needs a user (a token or a session) unless API_ALLOW_ANONYMOUS
is on; a workflow belongs to the user who started it; starting is throttled
(API_START_RATE); a body too large answers 413. A real worker runs the
workflows the tests start, against the live broker and result store.
"""

import io
import json
import uuid

import pytest
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from runs import jobs
from runs.models import Workflow
from tests.support import api_stack
from tests.support.workflows import wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

TC02 = {"div": [4, 2], "mul": [3]}
START = {"testcase": "ESG-TC02", "job_data": TC02}
NOBODY = "00000000-0000-0000-0000-000000000000"
# The worker runs the workflows the tests start, at once.
# The worker that the API's modules share (tests/support/api_stack.py).
API_WORKER_ENV = api_stack.SHARED_WORKER_ENV


@pytest.fixture
def rate_counts_of_this_test():
    """Start counts of this test's own, in Redis: no other test's starts count against it."""
    from django.conf import settings

    caches = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}}
    with override_settings(CACHES=caches):
        yield


def member(django_user_model, name):
    """A user who is not staff, and a client that sends their token."""
    person = django_user_model.objects.create_user(name, password=f"{name}'s password")
    token = Token.objects.create(user=person)
    return person, Client(headers={"Authorization": f"Token {token.key}"})


def post_json(client, path, data):
    return client.post(path, json.dumps(data), content_type="application/json")


ENDPOINTS = [
    ("get", "/api/workflows/"),
    ("post", "/api/workflows/"),
    ("get", "/api/workflows/{id}/"),
    ("post", "/api/workflows/{id}/cancel/"),
    ("post", "/api/workflows/{id}/relaunch/"),
    ("post", "/api/workflows/{id}/resume/"),
    ("get", '/?task_list=["{task}"]'),
    ("post", "/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_without_a_user_every_workflows_endpoint_answers_401_saying_how_to_authenticate(
    method, path
):
    workflow = jobs.start("ESG-TC02", TC02)
    path = path.format(id=workflow.id, task=workflow.steps.first().task_id)
    for client in (Client(), Client(headers={"Authorization": "Token not-a-token"})):
        response = getattr(client, method)(path, START, content_type="application/json")
        assert response.status_code == 401, response.content
        assert response["Content-Type"] == "application/json"
        assert response["WWW-Authenticate"] == "Token"
        assert "Authorization: Token <key>" in response.json()["detail"]
        assert "drf_create_token" in response.json()["detail"]
    assert Workflow.objects.count() == 1


def test_the_test_cases_and_the_health_check_need_no_user():
    assert Client().get("/api/testcases/").status_code == 200
    assert Client().get("/api/health/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/workflows/"),
        ("post", "/workflows/"),
        ("get", "/workflows/{id}/"),
        ("get", "/workflows/{id}/live/"),
        ("post", "/workflows/{id}/cancel/"),
    ],
)
def test_without_a_user_the_pages_send_to_the_login_and_back(method, path):
    workflow = jobs.start("ESG-TC02", TC02)
    path = path.format(id=workflow.id)
    response = getattr(Client(), method)(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
    assert Workflow.objects.count() == 1


def test_the_login_page_logs_a_user_in_and_goes_back_to_the_page(django_user_model):
    django_user_model.objects.create_user("ada", password="ada's password")
    browser = Client()
    page = browser.get("/accounts/login/?next=/workflows/")
    assert page.status_code == 200 and b'name="password"' in page.content
    wrong = browser.post("/accounts/login/", {"username": "ada", "password": "no", "next": "/"})
    assert wrong.status_code == 200 and b"Please enter a correct username" in wrong.content
    response = browser.post(
        "/accounts/login/",
        {"username": "ada", "password": "ada's password", "next": "/workflows/"},
    )
    assert response.status_code == 302 and response["Location"] == "/workflows/"
    page = browser.get("/workflows/")
    assert page.status_code == 200 and b"Log out" in page.content
    assert browser.post("/accounts/logout/").status_code == 302
    assert browser.get("/workflows/").status_code == 302


def test_a_token_made_by_drf_create_token_lets_a_program_in(django_user_model):
    from django.core.management import call_command

    django_user_model.objects.create_user("robot")
    call_command("drf_create_token", "robot", stdout=io.StringIO())
    key = Token.objects.get(user__username="robot").key
    program = Client(headers={"Authorization": f"Token {key}"})
    assert program.get("/api/workflows/").json()["count"] == 0
    assert post_json(program, "/api/workflows/", START).status_code == 202


def test_another_user_cannot_tell_a_workflow_exists_and_lists_only_their_own(django_user_model):
    ada, ada_client = member(django_user_model, "ada")
    bob, bob_client = member(django_user_model, "bob")
    started = post_json(ada_client, "/api/workflows/", START).json()
    assert Workflow.objects.get(pk=started["id"]).owner == ada
    mine = wait_until_finished(ada_client, started["links"]["self"])
    assert mine["result"] == 6.0

    # Bob: 404 as for an id nobody issued, with the same words; an empty list.
    nobody = bob_client.get(f"/api/workflows/{NOBODY}/").json()["detail"]
    response = bob_client.get(f"/api/workflows/{started['id']}/")
    assert response.status_code == 404
    assert response.json()["detail"] == nobody.replace(NOBODY, started["id"])
    for action in ("cancel", "relaunch", "resume"):
        path = f"/api/workflows/{started['id']}/{action}/"
        assert bob_client.post(path).status_code == 404
    assert bob_client.get("/api/workflows/").json() == {
        "count": 0, "next": None, "previous": None, "results": []
    }  # fmt: skip
    # The old tutorial's GET: another user's task ids are UNKNOWN, as if never issued.
    task_ids = json.dumps(started["task_ids"])
    assert bob_client.get("/", {"task_list": task_ids}).json() == dict.fromkeys(
        started["task_ids"], "UNKNOWN"
    )
    assert ada_client.get("/", {"task_list": task_ids}).json() == dict.fromkeys(
        started["task_ids"], "SUCCESS"
    )
    # Bob's pages, signed in with a session: the same.
    browser = Client()
    browser.force_login(bob)
    assert browser.get(f"/workflows/{started['id']}/").status_code == 404
    assert browser.get(f"/workflows/{started['id']}/live/").status_code == 404
    assert started["id"] not in browser.get("/workflows/").content.decode()

    # Bob's own workflow is his, and a relaunch of Ada's by Ada stays Ada's.
    bobs = post_json(bob_client, "/api/workflows/", START).json()
    assert [w["id"] for w in bob_client.get("/api/workflows/").json()["results"]] == [bobs["id"]]
    relaunched = ada_client.post(f"/api/workflows/{started['id']}/relaunch/").json()
    assert Workflow.objects.get(pk=relaunched["id"]).owner == ada


def test_staff_see_every_workflow(client, django_user_model):
    _, ada_client = member(django_user_model, "ada")
    started = post_json(ada_client, "/api/workflows/", START).json()
    assert client.get(f"/api/workflows/{started['id']}/").status_code == 200
    assert [w["id"] for w in client.get("/api/workflows/").json()["results"]] == [started["id"]]


def test_with_anonymous_access_on_the_old_tutorials_commands_need_no_user():
    with override_settings(API_ALLOW_ANONYMOUS=True):
        reader = Client()
        form = 'testcase=ESG-TC02&job_data={"div" : [4, 2], "mul" : [3]}'
        response = reader.post("/", form, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 202
        task_ids = response.json()
        assert Workflow.objects.get().owner is None
        workflow = wait_until_finished(reader, response["Location"])
        assert workflow["result"] == 6.0
        answer = reader.generic("GET", "/", f"task_list={json.dumps(task_ids)}",
                                content_type="application/x-www-form-urlencoded")  # fmt: skip
        assert answer.json() == dict.fromkeys(task_ids, "SUCCESS")
        assert reader.get("/workflows/").status_code == 200


def test_the_start_past_the_rate_answers_429_with_retry_after(
    django_user_model, rate_counts_of_this_test
):
    # 60/minute unless API_START_RATE says otherwise; the tests' settings lift
    # it (conftest.py), and this test sets a rate of 3: every start is a real
    # one, steps sent to the worker, and 60 of them would keep it busy for
    # the tests after this one.
    from config import settings as module

    assert module.API_START_RATE == "60/minute"
    ada, ada_client = member(django_user_model, "ada")
    _, bob_client = member(django_user_model, "bob")
    with override_settings(API_START_RATE="3/minute"):
        for _ in range(3):
            assert post_json(ada_client, "/api/workflows/", START).status_code == 202
        refused = post_json(ada_client, "/api/workflows/", START)
        assert refused.status_code == 429
        assert refused["Content-Type"] == "application/json"
        assert 0 < int(refused["Retry-After"]) <= 60
        assert refused.json()["detail"].startswith(
            "too many workflows started: 3/minute at most; try again in"
        )
        # Every way of starting counts: relaunch, resume, the old tutorial's POST.
        one = Workflow.objects.filter(owner=ada).first()
        assert ada_client.post(f"/api/workflows/{one.id}/relaunch/").status_code == 429
        assert post_json(ada_client, "/", START).status_code == 429
        # Reading is not starting; and the limit is Ada's, not Bob's.
        assert ada_client.get("/api/workflows/").status_code == 200
        assert post_json(bob_client, "/api/workflows/", START).status_code == 202
    assert Workflow.objects.filter(owner=ada).count() == 3


def test_the_pages_form_answers_429_with_retry_after_and_keeps_what_was_typed(
    user, rate_counts_of_this_test
):
    browser = Client()
    browser.force_login(user)
    typed = {"testcase": "ESG-TC02", "job_data": json.dumps(TC02)}
    with override_settings(API_START_RATE="2/minute"):
        assert browser.post("/workflows/", typed).status_code == 302
        assert browser.post("/workflows/", typed).status_code == 302
        refused = browser.post("/workflows/", typed)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "too many workflows started: 2/minute at most" in refused.content.decode()
    assert Workflow.objects.count() == 2


def test_a_body_larger_than_the_api_reads_answers_413_in_json_and_stores_nothing(client):
    big = {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}, "x": "y" * 70_000}
    for path in ("/api/workflows/", "/", "/workflows/"):
        response = post_json(client, path, big)
        assert response.status_code == 413, path
        assert response["Content-Type"] == "application/json"
        assert response.json()["detail"].endswith("the API reads 65536 at most")
    assert Workflow.objects.count() == 0
