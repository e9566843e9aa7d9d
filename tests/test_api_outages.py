"""No workflow is lost when a worker, the broker or Redis dies, nor under 500 submissions at once.

Everything here is started by this module, and only that is broken: a
RabbitMQ node and a Redis server of its own on free ports
(``sprout/private_services.py``), the API under gunicorn with a SQLite
database of its own, and its worker started with the README's command,
``celery -A config worker -l INFO``, unchanged. Each test causes its fault
for real, then follows every workflow it started to its end.

The embedded stack has neither a broker nor a Redis to lose, and a worker
killed there takes the messages it had read with it (they live in its
memory): these faults are RabbitMQ's and Redis's to survive. The faults that
do happen there, inside a worker, are tested on both stacks in
``test_api_faults.py``.

The tests run in three groups side by side (each group in a pytest-xdist
process of its own, which starts a RabbitMQ and a Redis of its own): the
load test; the broker's and Redis's restarts; the killed worker, pool
process and Redis.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from sprout import DayWorker
from sprout.api import API, ApiServer
from sprout.faults import kill_pool_process, kill_worker
from sprout.private_services import PrivateRabbitMQ, PrivateRedis
from sprout.testing import FINISHED

TC01 = {"testcase": "ESG-TC01", "job_data": {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}}
TC02 = {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}}


@dataclass
class Stack:
    broker: PrivateRabbitMQ
    redis: PrivateRedis
    api: ApiServer
    env: dict

    def worker(self, task_delay="0.3"):
        """The API's worker, started as the README says, on this module's services."""
        worker = DayWorker(
            "api", folder=API, app="config", env={**self.env, "TASK_DELAY": task_delay},
            documented=True,
        )  # fmt: skip
        return worker.start()

    def call(self, method, path, body=None):
        """Send a request to the API: its status, its JSON answer and how long it took."""
        return self.api.request(method, path, body)

    def start(self, body):
        status, workflow, _ = self.call("POST", "/api/workflows/", body)
        assert status == 202, workflow
        return f"/api/workflows/{workflow['id']}/"

    def read(self, path):
        status, answer, _ = self.call("GET", path)
        assert status == 200, answer
        return answer

    def follow(self, path, timeout=120):
        deadline = time.monotonic() + timeout
        while (workflow := self.read(path))["state"] not in FINISHED:
            assert time.monotonic() < deadline, workflow
            time.sleep(0.2)  # each reading is a request the API's one process answers
        return workflow

    def wait_for_a_running_step(self, paths, timeout=30):
        deadline = time.monotonic() + timeout
        while not any(
            step["state"] == "STARTED" for path in paths for step in self.read(path)["steps"]
        ):
            assert time.monotonic() < deadline, "no step has started"
            time.sleep(0.1)


def group(name):
    """The tests of one group share a process, and in it this module's servers."""
    return pytest.mark.xdist_group(f"test_api_outages::{name}")


def outcomes(workflows):
    """Each workflow's state and result."""
    return [(workflow["state"], workflow["result"]) for workflow in workflows]


@pytest.fixture(scope="module")
def stack():
    with PrivateRabbitMQ() as broker, PrivateRedis() as redis:
        env = {
            "CELERY_CONFIG_MODULE": "",
            "CELERY_BROKER_URL": broker.url,
            "CELERY_RESULT_BACKEND": redis.url,
            # The load test starts 500 workflows at once; the limit has tests of its own.
            "API_START_RATE": "100000/minute",
        }
        api = ApiServer(env)
        # The worker writes every step into the API's database.
        env["DATABASE_URL"] = api.database_url
        with api:
            yield Stack(broker, redis, api, env)


@group("killed")
def test_a_worker_killed_mid_step_loses_no_workflow(stack):
    worker = stack.worker()
    paths = [stack.start(TC01) for _ in range(6)]
    stack.wait_for_a_running_step(paths)
    kill_worker(worker)
    # What a supervisor (systemd, Docker, Kubernetes) does next: start another.
    worker = stack.worker()
    try:
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 6
    # The steps that were running when it died ran again, on the new worker.
    tries = [step["tries"] for workflow in finished for step in workflow["steps"]]
    assert set(tries) == {1, 2}, tries


@group("killed")
def test_a_pool_process_killed_mid_step_loses_no_workflow(stack):
    # Steps of a second: the step found running is still running when its
    # process is killed, however busy the machine.
    worker = stack.worker(task_delay="1")
    try:
        paths = [stack.start(TC01) for _ in range(4)]
        stack.wait_for_a_running_step(paths)
        killed = kill_pool_process(worker)
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 4
    steps = {step["task_id"]: step for workflow in finished for step in workflow["steps"]}
    assert steps[killed]["tries"] == 2
    assert [step["tries"] for task_id, step in steps.items() if task_id != killed] == [1] * 15


@group("restarted")
def test_rabbitmq_killed_while_steps_run_loses_no_workflow(stack):
    worker = stack.worker()
    try:
        paths = [stack.start(TC01) for _ in range(6)]
        count = stack.read("/api/workflows/")["count"]
        stack.wait_for_a_running_step(paths)
        stack.broker.kill()
        away = time.monotonic()
        # While the broker is away, a new workflow is refused at once, and nothing of it is kept.
        status, answer, seconds = stack.call("POST", "/api/workflows/", TC02)
        assert (status, answer["service"]) == (503, "broker")
        assert seconds < 5
        assert stack.read("/api/workflows/")["count"] == count
        # The broker comes back after about fourteen seconds, as in a restart.
        time.sleep(max(0, 6 - (time.monotonic() - away)))
        stack.broker.start()
        print(f"the broker was away for {time.monotonic() - away:.1f} s")
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 6
    assert stack.read("/api/workflows/")["count"] == count


@group("restarted")
def test_redis_restarted_empty_changes_no_answer_about_finished_workflows(stack):
    worker = stack.worker(task_delay="0")
    try:
        paths = [stack.start(TC02) for _ in range(10)]
        before = [stack.follow(path) for path in paths]
        task_ids = [task_id for workflow in before for task_id in workflow["task_ids"]]
        # Everything Redis knew is gone, as after a restart without persistence,
        # or once result_expires has passed for every result.
        stack.redis.restart()
        assert stack.redis.client().dbsize() == 0
        assert [stack.read(path) for path in paths] == before
        assert {workflow["result"] for workflow in before} == {6.0}
        query = "/?task_list=" + urllib.request.quote(json.dumps(task_ids))
        assert stack.read(query) == dict.fromkeys(task_ids, "SUCCESS")
        # The worker finds Redis again by itself.
        assert stack.follow(stack.start(TC02))["result"] == 6.0
    finally:
        worker.stop()


@group("killed")
def test_redis_killed_while_steps_run_loses_no_workflow(stack):
    worker = stack.worker()
    try:
        paths = [stack.start(TC01) for _ in range(6)]
        stack.wait_for_a_running_step(paths)
        # Redis goes away while steps run and write their results there.
        stack.redis.kill()
        away = time.monotonic()
        # Starting a workflow needs the broker and the database, not Redis:
        # the count of starts (API_START_RATE), kept in Redis, lets it through.
        paths.append(stack.start(TC01))
        assert "could not count this start" in stack.api.log()
        time.sleep(max(0, 5 - (time.monotonic() - away)))
        # It comes back, empty, about five seconds later.
        stack.redis.start()
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 7


@group("load")
def test_five_hundred_workflows_submitted_at_once_all_finish(stack):
    worker = stack.worker(task_delay="0")
    answers = []

    def client():
        for _ in range(20):
            status, workflow, _ = stack.call("POST", "/api/workflows/", TC01)
            answers.append((status, workflow))

    threads = [threading.Thread(target=client) for _ in range(25)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in answers] == [202] * 500
        finished = [stack.follow(f"/api/workflows/{workflow['id']}/") for _, workflow in answers]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 500
    for log in (worker.log(), stack.api.log()):
        assert "database is locked" not in log
