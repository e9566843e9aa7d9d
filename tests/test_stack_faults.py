"""No workflow is lost when a container of the compose stack fails: a worker killed, the
broker or the database restarted, a worker cut off the network, one worker of three killed.

Each fault is caused for real, with Docker's own commands, on a stack of this module's own
(made as tests/test_stack.py makes its stack: tests/support/compose_stack.py), while the
workflows it started run; every one of them must then end SUCCESS with its right result,
and the record (the API's workflow, each step's ``tries``; the database's ``lost_runs``,
which the API does not show) must show what the fault cost. The faults on processes and
servers of the tests' own, without containers, are tests/test_api_outages.py's.

The steps sleep TASK_DELAY (below) seconds each, long enough for a step to be caught
running, and the tests run in the order they are written: the three workers of the last
but one are scaled back to one for the partition, the longest.
"""

import contextlib
import json
import time
import urllib.error

import pytest

from tests.support import compose_stack
from tests.support.compose_stack import docker, request

# One stack for the whole module, after test_stack.py's, in the same process of pytest-xdist.
pytestmark = [
    pytest.mark.xdist_group(compose_stack.XDIST_GROUP),
    pytest.mark.starts("the compose stack, in containers, and breaks its containers"),
]

# Seconds each step sleeps: a step found STARTED is still running when the fault strikes.
TASK_DELAY = "1.5"
TC01 = {"testcase": "ESG-TC01", "job_data": {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}}
PROJECT_PREFIX = "sprout-faults-"
# The queue of the steps (.env.example's CELERY_TASK_DEFAULT_QUEUE), on RabbitMQ's vhost /.
STEPS_QUEUE = "/api/queues/%2F/workflows"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from compose_stack.running_stack(
        tmp_path_factory, prefix=PROJECT_PREFIX, task_delay=TASK_DELAY
    )


@pytest.fixture(scope="module")
def token(stack):
    return compose_stack.readme_users(stack)["token"]


# --- The faults: one function each -----------------------------------------------------


def kill_worker_container(container):
    """SIGKILL a worker's container, every process in it at once, as a lost machine would.

    Docker does not start a container killed this way again (restart: unless-stopped
    counts it as stopped by hand): the test starts it, as an operator would.
    """
    docker("kill", container)


def restart_broker(stack):
    """`docker compose restart broker`: RabbitMQ stops, then starts in the same container."""
    stack.compose("restart", "broker")


def restart_database(stack):
    """`docker compose restart db`: PostgreSQL stops, then starts on the same volume."""
    stack.compose("restart", "db")


@contextlib.contextmanager
def partitioned(stack, container):
    """The container cut off the project's network, every connection of it with it, until
    the block ends; then connected again (with an address that may differ)."""
    docker("network", "disconnect", stack.network(), container)
    try:
        yield
    finally:
        docker("network", "connect", stack.network(), container)


def scale_workers(stack, count):
    """`docker compose up -d --scale worker=<count> --no-recreate`: more workers, or fewer."""
    stack.compose("up", "-d", "--scale", f"worker={count}", "--no-recreate")


# --- Following the workflows -------------------------------------------------------------


def start(stack, token, count, workflow=TC01):
    """Start ``count`` workflows through the API; their ids."""
    ids = []
    for _ in range(count):
        status, body = request(stack.url("API_PORT", "/api/workflows/"), token=token, data=workflow)
        assert status == 202, body
        ids.append(json.loads(body)["id"])
    return ids


def read(stack, token, workflow_id):
    """The workflow as the API shows it, or None while the API cannot answer (an outage)."""
    try:
        status, body = request(
            stack.url("API_PORT", f"/api/workflows/{workflow_id}/"), token=token, timeout=10
        )
    except (urllib.error.URLError, OSError):
        return None
    return json.loads(body) if status == 200 else None


def follow(stack, token, ids, timeout):
    """Each workflow, read until it has ended; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    finished = {}
    while True:
        for workflow_id in ids:
            if workflow_id not in finished:
                workflow = read(stack, token, workflow_id)
                if workflow and workflow["state"] not in {"PENDING", "STARTED"}:
                    finished[workflow_id] = workflow
        if len(finished) == len(ids):
            return [finished[workflow_id] for workflow_id in ids]
        running = {i: read(stack, token, i) for i in ids if i not in finished}
        assert time.monotonic() < deadline, f"still running after {timeout} s: {running}"
        time.sleep(0.5)


def running_step(stack, token, ids, timeout=60):
    """The task id of a step that runs now (STARTED) in one of the workflows ``ids``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for workflow_id in ids:
            workflow = read(stack, token, workflow_id) or {"steps": []}
            for step in workflow["steps"]:
                if step["state"] == "STARTED":
                    return step["task_id"]
        time.sleep(0.1)
    raise AssertionError(f"no step of {ids} started within {timeout} s")


def worker_running(stack, task_id):
    """The worker container that received the task ``task_id``: its log says so."""
    for container in stack.container_ids("worker", every=False):
        logs = docker("logs", container)
        if f"[{task_id}] received" in logs.stdout + logs.stderr:
            return container
    raise AssertionError(f"no running worker received {task_id}")


def wait_until_ready(container, since=None, timeout=120):
    """Wait for the worker in ``container`` to log that it is ready (after ``since``, a time)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = docker("logs", *(["--since", f"{since:.3f}"] if since else []), container)
        if " ready." in logs.stdout + logs.stderr:
            return
        assert time.monotonic() < deadline, logs.stderr[-3000:]
        time.sleep(1)


def broker_heartbeats(stack, container, timeout=30):
    """The heartbeats, in seconds, of the container's connections to RabbitMQ, as agreed
    with it (0: none), read with RabbitMQ's management API (whose list of connections is
    a few seconds old: a worker that has just connected may not be in it yet)."""
    peer = address(stack, container)
    deadline = time.monotonic() + timeout
    while True:
        status, body = request(
            stack.url("RABBITMQ_MANAGEMENT_PORT", "/api/connections"), auth="guest:guest"
        )
        assert status == 200, body
        connections = json.loads(body)
        # RabbitMQ listens on IPv6 too, and may show an IPv4 peer as ::ffff:a.b.c.d.
        found = [
            c["timeout"] for c in connections if c["peer_host"].removeprefix("::ffff:") == peer
        ]
        if any(found):
            return sorted(found)
        assert time.monotonic() < deadline, (
            peer, [(c["peer_host"], c["timeout"]) for c in connections]
        )  # fmt: skip
        time.sleep(1)


def unacknowledged_steps(stack):
    """How many of the steps' messages RabbitMQ has handed out and not had acknowledged
    (its management API, whose figures are a few seconds old)."""
    status, body = request(stack.url("RABBITMQ_MANAGEMENT_PORT", STEPS_QUEUE), auth="guest:guest")
    assert status == 200, body
    return json.loads(body).get("messages_unacknowledged", 0)


def address(stack, container):
    """The container's address on the project's network."""
    described = json.loads(docker("inspect", container).stdout)[0]
    return described["NetworkSettings"]["Networks"][stack.network()]["IPAddress"]


def worker_said(container, *words):
    """The lines of the worker's log that hold one of ``words``, for the test's output."""
    logs = docker("logs", container)
    lines = (logs.stdout + logs.stderr).splitlines()
    return "\n".join(line for line in lines if any(word in line for word in words))


def outcomes(workflows):
    return [(workflow["state"], workflow["result"]) for workflow in workflows]


def tries(workflows):
    """Each step's tries, by task id, as the API shows them."""
    return {step["task_id"]: step["tries"] for w in workflows for step in w["steps"]}


def lost_runs(stack, task_ids):
    """Each step's ``lost_runs`` (runs that ended with their worker), read in the database
    through the API's container: the API does not show it."""
    code = (
        "import json; from runs.models import Step; print(json.dumps(dict("
        f"Step.objects.filter(task_id__in={sorted(task_ids)!r})"
        ".values_list('task_id', 'lost_runs'))))"
    )
    done = stack.compose(
        "exec", "-T", "api", "python", "manage.py", "shell", "--no-imports", "-c", code
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def the_record(stack, finished):
    """{task id: (tries, lost runs)} for every step of ``finished``, printed for the log."""
    shown = tries(finished)
    lost = lost_runs(stack, shown)
    record = {task_id: (shown[task_id], lost[task_id]) for task_id in shown}
    print("steps (tries, lost runs) other than (1, 0):", {
        task_id: counts for task_id, counts in record.items() if counts != (1, 0)
    })  # fmt: skip
    for task_id, (tried, lost_count) in record.items():
        # Every lost run was a start: it counts among the tries.
        assert tried >= 1 + lost_count, (task_id, tried, lost_count)
    return record


# --- The faults, caused for real --------------------------------------------------------


def test_a_worker_container_killed_mid_step_loses_no_workflow(stack, token):
    ids = start(stack, token, 4)
    task_id = running_step(stack, token, ids)
    kill_worker_container(worker_running(stack, task_id))
    killed = time.monotonic()
    stack.compose("start", "worker")
    finished = follow(stack, token, ids, timeout=180)
    print(f"all ended {time.monotonic() - killed:.1f} s after the kill")
    assert outcomes(finished) == [("SUCCESS", 10.0)] * len(ids)
    record = the_record(stack, finished)
    # The step that ran when its worker died ran again, and its lost run is counted.
    assert record[task_id] == (2, 1), record
    assert {tried for tried, _ in record.values()} <= {1, 2}, record
    # The worker started again counts afresh, from nothing: every lost run (each run that
    # its container took with it, found when the step came back) and every end.
    counted = compose_stack.worker_metrics(stack)
    lost = sum(v for (name, _), v in counted.items() if name == "step_lost_runs_total")
    ended = sum(v for (name, _), v in counted.items() if name == "workflows_ended_total")
    assert (lost, ended) == (sum(lost for _, lost in record.values()), len(ids)), counted


@pytest.mark.parametrize("restart", [restart_broker, restart_database], ids=["broker", "database"])
def test_a_service_restarted_while_steps_run_loses_no_workflow(stack, token, restart):
    ids = start(stack, token, 4)
    running_step(stack, token, ids)
    began = time.monotonic()
    restart(stack)
    print(f"the restart took {time.monotonic() - began:.1f} s")
    finished = follow(stack, token, ids, timeout=240)
    print(f"all ended {time.monotonic() - began:.1f} s after the restart began")
    assert outcomes(finished) == [("SUCCESS", 10.0)] * len(ids)
    record = the_record(stack, finished)
    if restart is restart_database:
        # The workers lived on, and kept the broker: no run ended with its worker.
        assert {lost for _, lost in record.values()} == {0}, record
    else:
        # The workers lost the broker: each stopped the runs it had (their messages could
        # no longer be acknowledged), and each of those steps ran again, once.
        assert {tried for tried, _ in record.values()} <= {1, 2}, record


def test_one_of_three_workers_killed_mid_step_loses_no_workflow(stack, token):
    victim = None
    scale_workers(stack, 3)
    try:
        workers = stack.container_ids("worker", every=False)
        assert len(workers) == 3, workers
        for container in workers:
            wait_until_ready(container)
        # More workflows than the three workers' six processes: every process is busy.
        ids = start(stack, token, 9)
        task_id = running_step(stack, token, ids)
        victim = worker_running(stack, task_id)
        kill_worker_container(victim)
        killed = time.monotonic()
        finished = follow(stack, token, ids, timeout=180)
        print(f"all ended {time.monotonic() - killed:.1f} s after the kill")
        assert outcomes(finished) == [("SUCCESS", 10.0)] * len(ids)
        record = the_record(stack, finished)
        assert record[task_id] == (2, 1), record
        assert {tried for tried, _ in record.values()} <= {1, 2}, record
    finally:
        # Back to one worker, running, for the next test.
        scale_workers(stack, 1)
        since = time.time()
        stack.compose("start", "worker")
    (worker,) = stack.container_ids("worker", every=False)
    if worker == victim:
        wait_until_ready(worker, since=since)


def test_a_worker_cut_off_the_network_past_the_heartbeat_loses_no_workflow(stack, token):
    (worker,) = stack.container_ids("worker", every=False)
    ids = start(stack, token, 4)
    task_id = running_step(stack, token, ids)
    assert worker_running(stack, task_id) == worker
    # The worker asks for a heartbeat of 10 s (broker_heartbeat in the settings), RabbitMQ
    # offers 60 s, and the lower wins; the worker's other connections have none.
    heartbeat = max(broker_heartbeats(stack, worker))
    print(f"the worker's heartbeat with RabbitMQ: {heartbeat} s")
    assert heartbeat == 10
    before = address(stack, worker)
    cut = time.monotonic()
    with partitioned(stack, worker):
        # Away for longer than the heartbeat, and until RabbitMQ, having missed the
        # worker's heartbeats, has given the messages it held back to the queue.
        time.sleep(heartbeat)
        deadline = time.monotonic() + 3 * heartbeat
        while unacknowledged_steps(stack):
            assert time.monotonic() < deadline, "RabbitMQ still waits for the worker"
            time.sleep(2)
        print(f"the broker took back the worker's messages {time.monotonic() - cut:.1f} s after")
    print(f"the worker's address: {before}, then {address(stack, worker)}")
    try:
        finished = follow(stack, token, ids, timeout=420)
    finally:
        print(f"{time.monotonic() - cut:.1f} s after the partition began, the worker said:")
        print(worker_said(worker, "WARNING", "ERROR", "CRITICAL", "lost", "Limit", "ready."))
    assert outcomes(finished) == [("SUCCESS", 10.0)] * len(ids)
    record = the_record(stack, finished)
    # The worker stopped the runs it had once it missed the broker's heartbeats: the step
    # cut off ran again, after its message came back, and counts its lost run; unless it
    # had recorded its end before the cut.
    assert record[task_id] in {(1, 0), (2, 1)}, record
