"""A worker killed in the middle of a webhook's POST: the next worker sends it again, under the
same webhook-id, and it ends delivered.

A RabbitMQ, a Redis and the API of this module's own (``private_stack``),
its workers started with the README's command, and a real receiver
(``tests/support/webhooks.py``) that holds the first request open while the
test kills the worker that sent it.
"""

import pytest

from tests.support.faults import kill_worker
from tests.support.private_stack import private_stack
from tests.support.webhooks import WORKER_ENV, Receiver, wait_for_notification
from webhooks.tasks import INTERRUPTED

pytestmark = pytest.mark.starts("a RabbitMQ, a Redis and the API of its own, and kills a worker")

TC02 = {"div": [4, 2], "mul": [3]}


def test_a_worker_killed_mid_delivery_delivers_again_under_the_same_webhook_id():
    with private_stack(env=WORKER_ENV) as stack, Receiver(["hold"]) as receiver:
        worker = stack.worker(task_delay="0")
        try:
            path = stack.start(
                {"testcase": "ESG-TC02", "job_data": TC02, "notify_url": receiver.url}
            )
            assert receiver.held.wait(60), "no webhook came"
            # The worker is in the middle of its POST: it dies before any answer.
            kill_worker(worker)
            receiver.release.set()
            worker = stack.worker(task_delay="0")
            workflow = wait_for_notification(lambda: stack.read(path), timeout=60)
        finally:
            worker.stop()
    assert workflow["notification"]["state"] == "delivered"
    # The broker gave the unacknowledged message to the new worker, which sent the same webhook.
    assert len(receiver.requests) == 2
    assert len(set(receiver.ids())) == 1
    assert [payload["data"]["result"] for payload in receiver.verified()] == [6.0, 6.0]
    # The attempt the killed worker made shows, without an answer.
    assert [
        (attempt["status"], attempt["error"]) for attempt in workflow["notification"]["attempts"]
    ] == [
        (None, INTERRUPTED),
        (200, ""),
    ]
