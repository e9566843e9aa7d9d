"""Webhooks (api/webhooks/): a workflow that ends POSTs one signed notification to its notify_url.

The receiver is a real HTTP server (``http.server``, in a thread of this
process, on 127.0.0.1 and a free port: ``tests/support/webhooks.py``), and
the API's worker a real worker on the live broker: it delivers, retries and
records every attempt, and the tests read them through the API. The receiver checks each request as a
reader's receiver would, with the ``standardwebhooks`` library. A receiver
on 127.0.0.1 is a loopback address, which the API refuses unless
WEBHOOK_ALLOWED_HOSTS names it: these tests name it, for the API in this
process (pytest-django's ``settings``) and for its worker (its environment).
A worker killed in the middle of a delivery: ``test_webhooks_outages.py``.
"""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Workflow
from tests.support import api_stack
from tests.support.webhooks import SECRET, Receiver, wait_for_notification
from tests.support.workflows import wait_for_state, wait_until_finished
from webhooks import notifications
from webhooks.models import Notification
from webhooks.serializers import NotifyURLField

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

# Short steps; the worker signs with SECRET, sends to 127.0.0.1, and waits a
# fraction of a second between attempts.
# The worker that the API's modules share (tests/support/api_stack.py).
API_WORKER_ENV = api_stack.SHARED_WORKER_ENV

TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
TC02 = {"div": [4, 2], "mul": [3]}


@pytest.fixture
def webhooks(settings):
    """The API in this process signs webhooks, and lets them go to 127.0.0.1 (the receiver)."""
    settings.WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings


def start(client, testcase, job_data, notify_url):
    response = client.post(
        "/api/workflows/",
        {"testcase": testcase, "job_data": job_data, "notify_url": notify_url},
        content_type="application/json",
    )
    assert response.status_code == 202, response.json()
    return response.json()


def attempts(workflow):
    return [attempt["status"] for attempt in workflow["notification"]["attempts"]]


def test_a_webhook_answered_503_twice_arrives_once_signed_with_the_result(client, webhooks):
    with Receiver([503, 503]) as receiver:
        started = start(client, "ESG-TC02", TC02, receiver.url)
        assert (started["notify_url"], started["notification"]) == (receiver.url, None)
        url = started["links"]["self"]
        finished = wait_until_finished(client, url)
        workflow = wait_for_notification(lambda: client.get(url).json())
        assert finished["result"] == 6.0
        assert workflow["notification"]["state"] == "delivered"
        assert attempts(workflow) == [503, 503, 200]
        assert [attempt["error"] for attempt in workflow["notification"]["attempts"]] == [
            "HTTP 503",
            "HTTP 503",
            "",
        ]
        # Three requests, one notification: the same webhook-id each time, and each signed.
        payloads = receiver.verified()
        assert len(payloads) == 3 and len(set(receiver.ids())) == 1
        accepted = [
            payload
            for payload, request in zip(payloads, receiver.requests, strict=True)
            if request[3] == 200
        ]
        assert len(accepted) == 1
        payload = accepted[0]
        assert payload["type"] == "workflow.ended"
        assert {
            key: payload["data"][key] for key in ("id", "testcase", "state", "result", "error")
        } == {
            "id": started["id"],
            "testcase": "ESG-TC02",
            "state": "SUCCESS",
            "result": 6.0,
            "error": None,
        }
        assert [
            (step["name"], step["state"], step["result"], step["tries"])
            for step in payload["data"]["steps"]
        ] == [
            ("div", "SUCCESS", 2.0, 1),
            ("mul", "SUCCESS", 6.0, 1),
        ]
        path, headers, _, _ = receiver.requests[0]
        assert path == "/hooks/workflows?from=tests"
        assert headers["content-type"] == "application/json"
    # The list shows it too, its notifications read for the whole page at once.
    listed = {
        workflow["id"]: workflow for workflow in client.get("/api/workflows/").json()["results"]
    }
    assert listed[started["id"]]["notification"] == workflow["notification"]
    # The workflow's page shows the webhook and its three attempts.
    page = client.get(f"/workflows/{started['id']}/").content.decode()
    assert 'id="webhook-state">delivered<' in page
    assert page.count("HTTP 503") == 2


def test_a_failed_workflow_and_a_cancelled_one_notify_once_each(client, webhooks):
    with Receiver() as failing, Receiver() as cancelling:
        # 1e308 / 1e-308 overflows: the first step fails.
        failed = start(client, "ESG-TC02", {"div": [1e308, 1e-308], "mul": [3]}, failing.url)
        cancelled = start(client, "ESG-TC01", TC01, cancelling.url)
        response = client.post(cancelled["links"]["cancel"])
        assert response.status_code == 200, response.json()
        for workflow, receiver, state in (
            (failed, failing, "FAILURE"),
            (cancelled, cancelling, "REVOKED"),
        ):
            read = wait_for_notification(
                lambda url=workflow["links"]["self"]: client.get(url).json()
            )
            assert (read["state"], read["notification"]["state"]) == (state, "delivered")
            (payload,) = receiver.verified()
            assert payload["data"]["state"] == state
        (payload,) = failing.verified()
        assert [step["state"] for step in payload["data"]["steps"]] == ["FAILURE", "NOT_RUN"]
        assert "OverflowError" in payload["data"]["error"]
        # The webhook came once nothing of the workflow ran any more: the first step, if it
        # was running when the cancel came, had ended; the steps that had not started, revoked.
        (payload,) = cancelling.verified()
        first, *others = [step["state"] for step in payload["data"]["steps"]]
        assert (first, others) in [("SUCCESS", ["REVOKED"] * 3), ("REVOKED", ["REVOKED"] * 3)]
        assert not Workflow.objects.get(pk=cancelled["id"]).steps.filter(state="STARTED").exists()
        time.sleep(0.5)
        assert len(cancelling.requests) == len(failing.requests) == 1
    assert Notification.objects.filter(workflow_id__in=[failed["id"], cancelled["id"]]).count() == 2


def test_a_workflow_cancelled_while_its_last_step_runs_notifies_once_that_step_has_ended(
    client, webhooks
):
    # ESG-TC03's last step, sub, caught running and cancelled; tried again with a new
    # workflow if sub had ended before the cancel came (its steps last 0.2 s).
    for _ in range(5):
        with Receiver() as receiver:
            started = start(client, "ESG-TC03", {"add": [3, 2], "sub": [1]}, receiver.url)
            sub = Workflow.objects.get(pk=started["id"]).steps.get(name="sub")
            wait_for_state(sub, {"STARTED", "SUCCESS"})
            if client.post(started["links"]["cancel"]).status_code == 409:
                continue  # sub had ended: the workflow had nothing left to cancel
            # sub runs to its end; then every step has succeeded, the workflow ends
            # SUCCESS, and its one webhook says so, not what it read at the cancel.
            url = started["links"]["self"]
            workflow = wait_for_notification(lambda url=url: client.get(url).json())
            assert workflow["cancelled_at"] is not None
            assert (workflow["state"], workflow["result"]) == ("SUCCESS", 4)
            (payload,) = receiver.verified()
            assert (payload["data"]["state"], payload["data"]["result"]) == ("SUCCESS", 4)
            return
    pytest.fail("sub ended before the cancel, five times in a row")


def test_a_4xx_answer_gives_up_at_once(client, webhooks):
    with Receiver([410]) as receiver:
        started = start(client, "ESG-TC02", TC02, receiver.url)
        workflow = wait_for_notification(lambda: client.get(started["links"]["self"]).json())
        assert workflow["notification"]["state"] == "failed"
        assert attempts(workflow) == [410]
        time.sleep(0.5)  # Longer than a retry's wait: none comes.
        assert len(receiver.requests) == 1


def test_a_receiver_on_a_private_address_is_refused_unless_its_host_is_allowed(client, settings):
    def refusal(notify_url):
        count = Workflow.objects.count()
        response = client.post(
            "/api/workflows/",
            {"testcase": "ESG-TC02", "job_data": TC02, "notify_url": notify_url},
            content_type="application/json",
        )
        assert response.status_code == 400, response.json()
        assert Workflow.objects.count() == count
        return " ".join(response.json()["notify_url"])

    settings.WEBHOOK_SECRET = ""
    assert "webhooks are not configured" in refusal("https://93.184.215.14/hook")
    settings.WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with Receiver() as receiver:
        reason = refusal(receiver.url)
        assert "127.0.0.1 is a loopback address" in reason
        assert "WEBHOOK_ALLOWED_HOSTS" in reason
    assert "a private address" in refusal("http://10.1.2.3/hook")
    assert "a link-local address" in refusal("http://169.254.169.254/latest/meta-data/")
    assert "a loopback address" in refusal("http://[::1]:8000/hook")
    assert "must be an http or https URL" in refusal("ftp://93.184.215.14/hook")
    assert "must be an http or https URL" in refusal("file:///etc/passwd")
    # A public address passes (no request is sent to it here).
    assert (
        NotifyURLField().run_validation("https://93.184.215.14/hook")
        == "https://93.184.215.14/hook"
    )
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    assert NotifyURLField().run_validation("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/hook"


def test_a_webhook_whose_task_was_lost_is_sent_again_by_the_repair(webhooks):
    """A notification left pending with no task (a broker away when it was sent): the repair's
    ``send_stalled`` sends its task again, once."""
    with Receiver() as receiver:
        workflow = Workflow.objects.create(
            testcase="ESG-TC02", job_data=TC02, notify_url=receiver.url
        )
        body = json.dumps({"type": "workflow.ended", "data": {"id": str(workflow.id)}})
        lost = Notification.objects.create(workflow=workflow, url=receiver.url, body=body)
        Notification.objects.filter(pk=lost.pk).update(
            updated_at=timezone.now() - timedelta(minutes=30)
        )
        assert notifications.send_stalled(after=600) == [lost.pk]
        assert notifications.send_stalled(after=600) == []  # Claimed: not sent twice.
        receiver.wait_for(1)
        deadline = time.monotonic() + 10
        while (lost := Notification.objects.get(pk=lost.pk)).state == Notification.PENDING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert lost.state == Notification.DELIVERED
        assert receiver.ids() == [lost.webhook_id]
        assert receiver.verified() == [json.loads(body)]
