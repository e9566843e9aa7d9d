"""No workflow is lost when a worker, the broker, Redis or the database dies, nor under 500
submissions at once; and what the periodic repair mends, caused for real.

Everything here is started by this module, and only that is broken: a
RabbitMQ node, a Redis server and a PostgreSQL server of its own on free
ports (``tests/support/private_services.py``), the API under gunicorn with a
database of its own (SQLite, or that PostgreSQL), its worker started with
the README's command, ``celery -A config worker -l INFO``, and its Celery
beat, ``celery -A config beat -l INFO``. Each test causes its fault for
real, then follows every workflow it started to its end.

The embedded stack has neither a broker nor a Redis to lose, and a worker
killed there takes the messages it had read with it (they live in its
memory): these faults are RabbitMQ's and Redis's to survive. The faults that
do happen there, inside a worker, are tested on both stacks in
``test_api_faults.py``. ``test_soak.py`` draws these faults one after
another, for minutes.

The tests run in four groups side by side (each group in a pytest-xdist
process of its own, which starts the servers it needs): the load test; the
broker's and Redis's restarts; the killed worker, pool process and Redis;
the database's outages and the repairs.
"""

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

from sprout import REPO
from tests.support.api_stack import manage
from tests.support.faults import kill_pool_process, kill_worker
from tests.support.private_services import PrivatePostgres
from tests.support.private_stack import private_stack

pytestmark = pytest.mark.starts(
    "RabbitMQ, Redis and PostgreSQL servers of its own, and breaks them"
)


TC01 = {"testcase": "ESG-TC01", "job_data": {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}}
TC02 = {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}}


def group(name):
    """The tests of one group share a process, and in it this module's servers."""
    return pytest.mark.xdist_group(f"test_api_outages::{name}")


def outage(stack, server, service, seconds):
    """Kill ``server`` (``service`` to the API) and start it again ``seconds`` later; how long
    it was away.

    While it is away, a new workflow is refused at once, and nothing of it is kept.
    """
    count = stack.read("/api/workflows/")["count"]
    server.kill()
    away = time.monotonic()
    status, answer, took = stack.call("POST", "/api/workflows/", TC02)
    assert (status, answer["service"]) == (503, service)
    assert took < 5
    time.sleep(max(0, seconds - (time.monotonic() - away)))
    server.start()
    assert stack.read("/api/workflows/")["count"] == count
    return time.monotonic() - away


def outcomes(workflows):
    """Each workflow's state and result."""
    return [(workflow["state"], workflow["result"]) for workflow in workflows]


@pytest.fixture(scope="module")
def stack():
    with private_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def pg_stack():
    """The stack on a PostgreSQL server of its own, as in docker-compose.yml, to kill."""
    with PrivatePostgres() as database, private_stack(database) as stack:
        yield stack


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
        stack.wait_for_a_running_step(paths)
        # The broker comes back after about fourteen seconds, as in a restart.
        away = outage(stack, stack.broker, "broker", seconds=6)
        print(f"the broker was away for {away:.1f} s")
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 6


@group("restarted")
def test_a_worker_that_exits_by_itself_is_started_again_and_loses_no_workflow(stack):
    """A worker checks its pool once, when it first reaches the broker: a pool process that
    died before then makes it exit with code 1. A supervisor starts it again (the compose
    file's ``restart: unless-stopped``)."""
    paths = [stack.start(TC02) for _ in range(3)]  # They wait in the queue for a worker.
    stack.broker.kill()
    worker = stack.worker_process(options=["--hostname=exits@%h", "--concurrency=2"]).launch()
    try:
        # The worker has started its pool, and waits for the broker.
        deadline = time.monotonic() + 60
        while "Cannot connect to" not in worker.log():
            assert worker.running and time.monotonic() < deadline, worker.log()
            time.sleep(0.1)
        pool = psutil.Process(worker.process.pid).children()
        assert len(pool) == 2, pool
        os.kill(pool[0].pid, signal.SIGKILL)
        stack.broker.start()
        assert worker.process.wait(timeout=60) == 1, worker.log()
        assert "WorkerLostError('Could not start worker processes')" in worker.log()
        # What the supervisor does next: start it again.
        worker = stack.worker()
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 6.0)] * 3


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


@group("database")
def test_postgresql_killed_while_steps_run_loses_no_workflow(pg_stack):
    stack = pg_stack
    # Retries of 2 s at most: an outage of the record itself is waited out
    # however long it lasts, since a step that cannot record cannot fail either.
    worker = stack.worker(env={"STEP_RETRY_FOR": "2"})
    try:
        paths = [stack.start(TC01) for _ in range(6)]
        stack.wait_for_a_running_step(paths)
        # The steps that start, end or fail meanwhile cannot be recorded: they
        # are sent again for later, for as long as the database is away.
        outage(stack, stack.database, "database", seconds=5)
        finished = [stack.follow(path) for path in paths]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0)] * 6
    assert "could not record" not in worker.log()


def launch(stack, names, job_data):
    """Start a workflow of the steps ``names`` (faulty ones too) in the stack's database; its path."""
    workflow_id = manage(
        "shell", "--no-imports", "-c",
        "from runs import jobs; from runs.models import Workflow; "
        f"print(jobs.launch(Workflow(testcase='FAULT', job_data={job_data!r}), {names!r}).id)",
        env=stack.env,
    ).strip()  # fmt: skip
    return f"/api/workflows/{workflow_id}/"


def wait_for_step(stack, path, position, state, timeout=30):
    deadline = time.monotonic() + timeout
    while stack.read(path)["steps"][position]["state"] != state:
        assert time.monotonic() < deadline, stack.read(path)
        time.sleep(0.1)


def wait_for_log(process, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in process.log():
        assert time.monotonic() < deadline, process.log()
        time.sleep(0.1)


@group("database")
def test_a_step_killed_at_its_hard_time_limit_while_the_database_is_away_is_recorded_by_the_repair(
    pg_stack,
):
    stack = pg_stack
    # The repair looks at steps whose record has not moved for 2 s.
    worker = stack.worker(
        options=["--include", "faulty_steps"],
        env={"PYTHONPATH": str(REPO / "tests"), "STEP_STALLED_AFTER": "2"},
    )
    try:
        path = launch(stack, ["div", "stubborn"], TC01["job_data"])
        wait_for_step(stack, path, 1, "STARTED")
        # The database goes away while the step runs: when its hard time limit
        # kills it, the worker cannot record that it failed.
        stack.database.kill()
        wait_for_log(worker, "could not record the failure")
        stack.database.start()
        assert stack.read(path)["steps"][1]["state"] == "STARTED"
        # Celery beat sends the repair, which reads the end in the result store.
        with stack.beat():
            finished = stack.follow(path, timeout=30)
    finally:
        worker.stop()
    stubborn = finished["steps"][1]
    assert (finished["state"], stubborn["state"]) == ("FAILURE", "FAILURE")
    assert stubborn["error"] == (
        "TimeLimitExceeded: the step ran past its hard time limit (2 s) and was stopped"
    )
    assert "recorded its end from the result store: FAILURE" in worker.log()


@group("database")
def test_steps_whose_message_is_lost_are_sent_again_by_the_repair(pg_stack):
    stack = pg_stack
    env = {"STEP_STALLED_AFTER": "2"}
    stack.drop_messages()  # What earlier tests left: beat's last repairs.
    worker = stack.worker(task_delay="1", env=env)
    try:
        running = stack.start(TC01)
        wait_for_step(stack, running, 0, "STARTED")
    finally:
        # The worker dies: its step's message goes back to the queue, where
        # the next one waits too. Then the queue loses them both, as a broker
        # that lost its disk would.
        kill_worker(worker)
    waiting = stack.start(TC02)
    lost = stack.drop_messages()
    assert lost == [stack.read(path)["task_ids"][0] for path in (running, waiting)]
    worker = stack.worker(env=env)
    try:
        with stack.beat():
            finished = [stack.follow(path, timeout=30) for path in (running, waiting)]
    finally:
        worker.stop()
    assert outcomes(finished) == [("SUCCESS", 10.0), ("SUCCESS", 6.0)]
    assert worker.log().count("its message was lost: sent it again") == 2
    # The step that had started ran once more; nothing else ran twice.
    tries = [[step["tries"] for step in workflow["steps"]] for workflow in finished]
    assert tries == [[2, 1, 1, 1], [1, 1]]


@group("database")
def test_a_step_that_waits_for_its_retry_is_left_alone_by_the_repair(pg_stack, tmp_path):
    stack = pg_stack
    outage = tmp_path / "the result store is down"
    outage.touch()
    worker = stack.worker(
        options=["--include", "faulty_steps"],
        env={"PYTHONPATH": str(REPO / "tests"), "STEP_STALLED_AFTER": "2"},
    )
    try:
        with stack.beat():
            path = launch(stack, ["div", "flaky"], {**TC01["job_data"], "flaky": str(outage)})
            wait_for_step(stack, path, 1, "RETRY")
            flaky = stack.read(path)["task_ids"][1]
            # Its waits grow, 0.5 to 1 s, 1 to 2 s, 2 to 4 s ...: soon its record
            # stands still for longer than 2 s, while a worker holds its retry.
            wait_for_log(worker, f"step 1 (flaky, {flaky}) of workflow")
            outage.unlink()
            finished = stack.follow(path, timeout=30)
    finally:
        worker.stop()
    assert (finished["state"], finished["result"]) == ("SUCCESS", 2.0)
    assert f"step 1 (flaky, {flaky}) of workflow" in worker.log()
    assert "a worker holds it: left alone" in worker.log()
    assert "sent it again" not in worker.log(), worker.log()
