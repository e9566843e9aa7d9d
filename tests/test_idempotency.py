"""Starts that are safe to retry: the Idempotency-Key header (api/runs/idempotency.py).

A start sent again with the same key answers the workflow that the first one
started, and starts nothing; the same key with another request answers 422,
a key that is not one 400. The tests ask Django's test client, with the
module's API worker running the steps on the test database. The race, ten
requests with one key at the same moment against the API under gunicorn, is
in ``test_idempotency_served.py``.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from runs import idempotency
from runs.models import IdempotencyKey, Step, Workflow
from tests.support import api_stack
from tests.support.workflows import wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

# The worker that the API's modules share (tests/support/api_stack.py).
API_WORKER_ENV = api_stack.SHARED_WORKER_ENV

HEADER = "Idempotency-Key"
TC02 = {"div": [4, 2], "mul": [3]}
START = {"testcase": "ESG-TC02", "job_data": TC02}
# mul overflows with div's result: a workflow that fails, to resume.
FAILING = {"testcase": "ESG-TC02", "job_data": {"div": [1e308, 1], "mul": [10.0]}}


def post(client, path, body=None, key=None):
    """POST ``body`` as JSON, with ``key`` in the Idempotency-Key header if given."""
    headers = {} if key is None else {HEADER: key}
    return client.post(path, body, content_type="application/json", headers=headers)


def started(client, body=START, key=None):
    response = post(client, "/api/workflows/", body, key)
    assert response.status_code == 202, response.json()
    return response


def test_a_retried_start_answers_the_first_workflow_and_starts_nothing(client):
    first = started(client, key="a3f1c9e2-start")
    assert "Idempotent-Replayed" not in first
    # The same JSON, written otherwise, and the key in the draft's quoted form.
    retried = started(client, {"job_data": TC02, "testcase": "ESG-TC02"}, '"a3f1c9e2-start"')
    assert retried["Idempotent-Replayed"] == "true"
    assert retried["Location"] == first["Location"]
    assert retried.json()["id"] == first.json()["id"]
    assert retried.json()["task_ids"] == first.json()["task_ids"]
    assert (Workflow.objects.count(), Step.objects.count(), IdempotencyKey.objects.count()) == (
        1,
        2,
        1,
    )
    # Later, the retry answers the workflow as it stands now.
    wait_until_finished(client, first["Location"])
    finished = started(client, key="a3f1c9e2-start").json()
    assert (finished["state"], finished["result"]) == ("SUCCESS", 6.0)
    assert Workflow.objects.count() == 1


def test_the_same_key_with_another_request_answers_422_and_starts_nothing(client):
    first = started(client, key="one-request").json()
    other = post(client, "/api/workflows/", {**START, "job_data": {"div": [9, 3], "mul": [2]}})
    assert other.status_code == 202  # without a key, anything starts
    for path, body in [
        ("/api/workflows/", {**START, "job_data": {"div": [9, 3], "mul": [2]}}),
        (first["links"]["relaunch"], None),
    ]:
        response = post(client, path, body, "one-request")
        assert response.status_code == 422, response.json()
        detail = response.json()["detail"]
        assert detail.startswith("the Idempotency-Key header 'one-request' started a workflow ")
        assert "for another request (another path or body)" in detail
    assert Workflow.objects.count() == 2


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "is empty: send a key of your own for each new request, such as a UUID"),
        ('""', "is empty"),
        ("k" * 256, "is 256 characters long: 255 at most"),
        ("clé", "must hold printable ASCII characters only"),
        ("tab\there", "must hold printable ASCII characters only"),
        ('"unterminated', "starts with a double quote, so it must end with one"),
        ('"a\\nb"', "escapes 'n': only \\\" and \\\\ may be escaped"),
        ('"a"b"', 'holds a double quote that is not escaped (\\")'),
    ],
)
def test_a_malformed_key_answers_400_naming_the_header_and_why(client, key, reason):
    response = post(client, "/api/workflows/", START, key)
    assert response.status_code == 400, response.json()
    [message] = response.json()[HEADER]
    assert message.startswith(f"the Idempotency-Key header {reason}")
    assert Workflow.objects.count() == 0


def test_a_key_of_255_printable_characters_is_taken_bare_or_quoted(client):
    # Every printable character, quotes and backslashes too, between two letters.
    longest = "k" + "".join(chr(32 + n % 95) for n in range(253)) + "k"
    first = started(client, key=longest)
    quoted = '"' + longest.replace("\\", "\\\\").replace('"', '\\"') + '"'
    retried = started(client, key=quoted)
    assert retried["Idempotent-Replayed"] == "true"
    assert retried.json()["id"] == first.json()["id"]
    assert IdempotencyKey.objects.get().key == longest


def test_each_user_has_keys_of_their_own(client, django_user_model):
    other = Client()
    other.force_login(django_user_model.objects.create_user("other", password="another-one"))
    mine = started(client, key="shared-key").json()
    theirs = started(other, key="shared-key")
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine["id"]
    assert IdempotencyKey.objects.count() == 2


def test_relaunch_and_resume_with_a_key_start_one_workflow_each(client):
    failed = wait_until_finished(client, started(client, FAILING)["Location"])
    assert failed["state"] == "FAILURE"
    for action in ("relaunch", "resume"):
        key = f"{action}-{failed['id']}"
        first = post(client, failed["links"][action], key=key)
        assert first.status_code == 202, first.json()
        again = post(client, failed["links"][action], key=key)
        assert again.status_code == 202, again.json()
        assert again["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"] != failed["id"]
        assert again["Location"] == first["Location"]
    # The failed workflow, its relaunch and its resumption: nothing more.
    assert Workflow.objects.count() == 3
    assert Workflow.objects.filter(resumed_from_id=failed["id"]).count() == 1
    # The relaunch's key, sent to resume: another request.
    response = post(client, failed["links"]["resume"], key=f"relaunch-{failed['id']}")
    assert response.status_code == 422, response.json()
    response = post(client, failed["links"]["resume"], key="\x7f")
    assert response.status_code == 400, response.json()
    assert Workflow.objects.count() == 3


def test_a_key_whose_first_request_is_still_sending_its_workflow_answers_409(client):
    first = started(client, key="in-flight").json()
    # As if the first request had stored its workflow and not yet sent it.
    IdempotencyKey.objects.update(sent=False)
    response = post(client, "/api/workflows/", START, "in-flight")
    assert response.status_code == 409, response.json()
    assert response.json()["detail"] == (
        "the first request with the Idempotency-Key header 'in-flight' is still being "
        "answered: send it again in a moment for its workflow"
    )
    # A first request silent for longer than a request may take has died
    # after storing its workflow: the workflow is answered as it stands.
    IdempotencyKey.objects.update(created_at=timezone.now() - idempotency.SENDING_FOR)
    retried = started(client, key="in-flight")
    assert retried["Idempotent-Replayed"] == "true"
    assert retried.json()["id"] == first["id"]
    assert Workflow.objects.count() == 1


def test_a_key_older_than_a_day_is_replaced_by_the_new_request(client):
    first = started(client, key="yesterday").json()
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    again = started(client, key="yesterday")
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first["id"]
    assert str(IdempotencyKey.objects.get(key="yesterday").workflow_id) == again.json()["id"]


def test_forget_expired_deletes_the_keys_older_than_a_day_in_batches(client, monkeypatch):
    for number in range(5):
        started(client, key=f"key-{number}")
    now = timezone.now()
    IdempotencyKey.objects.filter(key__in=["key-0", "key-1", "key-2"]).update(
        created_at=now - timedelta(hours=25)
    )
    monkeypatch.setattr(idempotency, "BATCH", 2)
    assert idempotency.forget_expired() == 3
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["key-3", "key-4"]
    assert idempotency.forget_expired(now + timedelta(hours=24, seconds=1)) == 2
    # The workflows stay: the retention decides when they go.
    assert Workflow.objects.count() == 5


def test_a_deleted_workflow_takes_its_key_with_it(client):
    first = started(client, key="gone").json()
    Workflow.objects.filter(id=first["id"]).delete()
    assert not IdempotencyKey.objects.exists()
    assert "Idempotent-Replayed" not in started(client, key="gone")


def test_the_schema_documents_the_header_and_its_answers_on_the_three_starts(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in [
        "/api/workflows/",
        "/api/workflows/{id}/relaunch/",
        "/api/workflows/{id}/resume/",
    ]:
        operation = schema["paths"][path]["post"]
        [parameter] = [p for p in operation["parameters"] if p["name"] == HEADER]
        assert (parameter["in"], parameter["schema"]["pattern"]) == ("header", idempotency.PATTERN)
        assert {"400", "409", "422"} <= set(operation["responses"])
        assert "Idempotent-Replayed" in operation["responses"]["202"]["headers"]


TAKEN = ["k", "abc-123", "  padded  ", '"quoted"', '"a\\"b"', '"\\\\"', '" "', "a b", 'a"']
TAKEN += ["k" * 255, '"' + "k" * 255 + '"']
REFUSED = ["", " ", '""', '"', "k" * 256, '"' + "k" * 256 + '"', "é", '"a\\x"', '"a"b"', "\x7f"]


@pytest.mark.parametrize(
    ("value", "taken"), [(value, True) for value in TAKEN] + [(value, False) for value in REFUSED]
)
def test_the_schemas_pattern_takes_exactly_the_keys_the_api_takes(value, taken):
    try:
        idempotency.parse(value)
    except ValueError:
        assert not taken
    else:
        assert taken
    assert bool(re.match(idempotency.PATTERN, value)) == taken
