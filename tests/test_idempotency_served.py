"""Starts that are safe to retry, against the API served by gunicorn, as deployed.

The race is run for real: ten requests with one key at the same moment,
against the API under gunicorn (several processes and threads), on the test
database and on a PostgreSQL server of the test's own, and one workflow
starts. A start that a broker out of reach refused (503) leaves no key
behind: the retry starts anew.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from runs.models import IdempotencyKey, Workflow
from sprout.api import FINISHED, ApiServer
from sprout.processes import free_port
from sprout.services import broker_connection
from sprout.worker import API_APP, queue_env
from tests.support.days import unique_queue
from tests.support.private_services import PrivatePostgres

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("api"),
    pytest.mark.starts("the API under gunicorn, and a PostgreSQL server of its own"),
]

API_WORKER_ENV = {"TASK_DELAY": "0.1"}

HEADER = "Idempotency-Key"
START = {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}}


# The API under gunicorn, as deployed: real requests, at the same moment.


def send(url, body, key):
    """POST ``body`` to ``url`` with ``key``: the status, the headers and the JSON answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", HEADER: key},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.load(error)


def at_once(count, call):
    """``call()`` in ``count`` threads, released together; what each returned."""
    barrier = threading.Barrier(count)

    def run(_):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


# Two processes of four threads each: eight requests answered at once.
CONCURRENT = {"WEB_CONCURRENCY": "2", "GUNICORN_CMD_ARGS": "--threads 4"}


@pytest.fixture(params=["the test database", "PostgreSQL"])
def served(request, api_worker):
    """The API under gunicorn, anonymous access on (its keys have no user): on the test
    database, sending its steps to this module's worker; or on a PostgreSQL server of its
    own, sending them to a queue of its own, which nothing reads and which goes afterwards."""
    if request.param == "the test database":
        env = {
            **queue_env(api_worker.queue, API_APP),
            "DATABASE_URL": api_worker.env["DATABASE_URL"],
        }
        with ApiServer({**CONCURRENT, **env}) as server:
            yield server
        return
    queues = queue_env(unique_queue("idempotency"), API_APP)
    try:
        with (
            PrivatePostgres() as database,
            ApiServer({**CONCURRENT, **queues, "DATABASE_URL": database.url}) as server,
        ):
            yield server
    finally:
        with broker_connection() as connection:
            for queue in queues.values():
                connection.default_channel.queue_delete(queue)


def test_ten_starts_at_once_with_one_key_start_one_workflow(served):
    answers = at_once(10, lambda: send(f"{served.url}/api/workflows/", START, "at-once"))
    statuses = sorted(status for status, _, _ in answers)
    # Each request that lost the race answers the winner's workflow, or, while
    # the winner is still sending it, 409.
    assert set(statuses) <= {202, 409}, answers
    accepted = [(headers, body) for status, headers, body in answers if status == 202]
    assert [headers["Idempotent-Replayed"] for headers, _ in accepted].count(None) == 1, answers
    assert len({body["id"] for _, body in accepted}) == 1, answers
    status, workflows, _ = served.request("GET", "/api/workflows/")
    assert (status, workflows["count"]) == (200, 1), workflows
    # Once the winner has answered, every retry is a replay.
    status, headers, body = send(f"{served.url}/api/workflows/", START, "at-once")
    assert (status, headers["Idempotent-Replayed"]) == (202, "true")
    assert body["id"] == accepted[0][1]["id"]


def test_a_start_refused_with_503_leaves_no_key_and_its_retry_starts_anew(api_worker):
    database = {"DATABASE_URL": api_worker.env["DATABASE_URL"]}
    # The broker on a port where nothing listens: the start is refused.
    away = {"CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"}
    with ApiServer({**database, **away}) as server:
        status, _, answer = send(f"{server.url}/api/workflows/", START, "after-503")
    assert (status, answer["service"]) == (503, "broker"), answer
    assert not Workflow.objects.exists()
    assert not IdempotencyKey.objects.exists()
    with ApiServer({**database, **queue_env(api_worker.queue, API_APP)}) as server:
        status, headers, answer = send(f"{server.url}/api/workflows/", START, "after-503")
        assert status == 202, answer
        assert headers["Idempotent-Replayed"] is None
        path = answer["links"]["self"].removeprefix(server.url)
        deadline = time.monotonic() + 30
        while (workflow := server.request("GET", path)[1])["state"] not in FINISHED:
            assert time.monotonic() < deadline, workflow
            time.sleep(0.05)
    assert (workflow["state"], workflow["result"]) == ("SUCCESS", 6.0)
