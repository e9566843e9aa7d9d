"""A chaos soak: workflows keep coming while faults, drawn at random, come one after another.

The stack is the compose file's, on servers of the test's own: a RabbitMQ
node, a Redis server and a PostgreSQL server, the API under gunicorn, two
workers started with the README's command (each with a name of its own, as
two workers on one machine need, and eight processes) and Celery beat.
Clients start workflows of all three test cases, with random job data, a few
a second. Every 8 to 10 s
one fault is drawn, every kind in turn in a shuffled order, so that each
comes several times:

- ``worker``: a worker SIGKILLed with its pool, and another started in its place;
- ``pool``: one pool process of a worker SIGKILLed;
- ``broker``: RabbitMQ SIGKILLed, and started again 5 to 10 s later;
- ``redis``: Redis SIGKILLed, and started again, empty, 3 s later;
- ``database``: PostgreSQL SIGKILLed, and started again 5 s later.

A worker or beat that exits by itself is started again, as the compose
file's ``restart: unless-stopped`` does: one started while the broker is away, whose
pool process is killed before it first reaches the broker, exits with code 1
(api/chapters/09_keeping_work_safe.md, "When faults combine").

A fault runs beside the ones before it: a service may still be away when the
next fault strikes another. Then the clients stop, and every accepted
workflow must end SUCCESS with the result its job data gives; every refused
start must have been a JSON 503 that names the service; and the database
must hold no workflow but the accepted ones.

``make soak`` runs it: ``SOAK_SECONDS`` (240) long, with the faults drawn
from ``SOAK_SEED`` (a new one each run, printed first, to replay a run).
"""

import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil
import pytest

from sprout.api import FINISHED
from tests.support.faults import kill_worker
from tests.support.private_services import PrivatePostgres
from tests.support.private_stack import private_stack

pytestmark = [
    pytest.mark.soak,
    pytest.mark.starts("the API's whole stack on servers of its own, and breaks them for minutes"),
]

SECONDS = float(os.environ.get("SOAK_SECONDS", "240"))
SEED = int(os.environ.get("SOAK_SEED") or random.SystemRandom().randrange(10**6))

# Steps of a second, on two workers of eight processes each: about ten
# workflows are in flight when a fault strikes, half of the processes busy, so
# that the workers catch up after each outage. The repair every 5 s, for steps
# whose record has not moved for a minute.
ENV = {"TASK_DELAY": "1", "REPAIR_EVERY": "5", "STEP_STALLED_AFTER": "60"}
WORKERS = ("soak1@%h", "soak2@%h")
CONCURRENCY = "--concurrency=8"


def job(rng):
    """A random workflow of a random test case: its request body and the result it must give."""
    a, b, c, d, e = (rng.randint(1, 100) for _ in range(5))
    testcase = rng.choice(["ESG-TC01", "ESG-TC02", "ESG-TC03"])
    if testcase == "ESG-TC01":
        job_data, result = {"div": [a, b], "mul": [c], "add": [d], "sub": [e]}, a / b * c + d - e
    elif testcase == "ESG-TC02":
        job_data, result = {"div": [a, b], "mul": [c]}, a / b * c
    else:
        job_data, result = {"add": [a, b], "sub": [c]}, a + b - c
    return {"testcase": testcase, "job_data": job_data}, result


@dataclass
class Soak:
    """What the soak saw: the accepted workflows, the refusals, the faults."""

    accepted: dict = field(default_factory=dict)  # workflow id: the result it must give
    refused: list = field(default_factory=list)  # (status, answer) of each start not accepted
    faults: list = field(default_factory=list)  # (seconds since the start, kind)
    exits: list = field(default_factory=list)  # (node, exit code) of each worker that exited
    lock: threading.Lock = field(default_factory=threading.Lock)


class Chaos:
    """The faults, each caused on the stack's own servers and workers.

    Every fault is caused at once, and a server that is away comes back
    later (``restore``), in this thread: a child process started in a thread
    would stop when that thread ends (``sprout.processes.die_with_parent``).
    """

    KINDS = ("worker", "pool", "broker", "redis", "database")

    def __init__(self, stack, soak, beat, rng):
        self.stack = stack
        self.soak = soak
        self.beat = beat
        self.rng = rng
        self.workers = [self.new_worker(name).start() for name in WORKERS]
        self.servers = {"broker": stack.broker, "redis": stack.redis, "database": stack.database}
        #: Each server that is away, and when it comes back (a time.monotonic()).
        self.away = {}

    def new_worker(self, name):
        return self.stack.worker_process(options=[f"--hostname={name}", CONCURRENCY], env=ENV)

    def cause(self, kind):
        """Cause a fault of ``kind`` now."""
        getattr(self, kind)()

    def worker(self):
        index = self.rng.randrange(len(self.workers))
        kill_worker(self.workers[index])
        # What a supervisor (systemd, Docker, Kubernetes) does next: start another.
        self.workers[index] = self.new_worker(WORKERS[index]).launch()

    def pool(self):
        worker = self.workers[self.rng.randrange(len(self.workers))]
        pool = psutil.Process(worker.process.pid).children()
        if pool:
            os.kill(self.rng.choice(pool).pid, signal.SIGKILL)

    def broker(self):
        self.outage("broker", self.rng.uniform(5, 10))

    def redis(self):
        self.outage("redis", 3)

    def database(self):
        self.outage("database", 5)

    def outage(self, name, seconds):
        self.servers[name].kill()
        self.away[name] = time.monotonic() + seconds

    def restore(self):
        """Start again each server whose time away is over; when the next one is due, or None."""
        for name, back in list(self.away.items()):
            if back <= time.monotonic():
                self.servers[name].launch()
                del self.away[name]
        return min(self.away.values(), default=None)

    def supervise(self):
        """Start again each worker that exited by itself, and beat, as ``restart: unless-stopped``
        does."""
        if not self.beat.running:
            print(f"soak: beat exited with code {self.beat.process.returncode}: started again")
            self.soak.exits.append(("beat", self.beat.process.returncode))
            self.beat.launch()
        for index, worker in enumerate(self.workers):
            if worker.process.poll() is None:
                continue
            why = [line for line in worker.log().splitlines() if "Unrecoverable error" in line]
            print(
                f"soak: {worker.node} exited with code {worker.process.returncode} "
                f"({why[-1] if why else 'no error logged'}): started again",
                flush=True,
            )
            self.soak.exits.append((worker.node, worker.process.returncode))
            self.workers[index] = self.new_worker(WORKERS[index]).launch()

    def ready(self):
        """Wait until every server and every worker answers again."""
        for server in self.servers.values():
            server.wait_until_ready()
        for index in range(len(self.workers)):
            for attempt in range(3):
                self.supervise()
                try:
                    self.workers[index].wait_until_ready()
                    break
                except RuntimeError:  # It exited as it started: another is started.
                    if attempt == 2:
                        raise

    def stop(self):
        for worker in self.workers:
            worker.stop()


def start_workflows(stack, soak, rng, until):
    """Start workflows, a few a second, until ``until`` (a time.monotonic())."""
    while time.monotonic() < until:
        body, result = job(rng)
        try:
            status, answer, _ = stack.call("POST", "/api/workflows/", body)
        except (OSError, ValueError) as error:  # no answer, or not JSON
            status, answer = None, repr(error)
        with soak.lock:
            if status == 202:
                soak.accepted[answer["id"]] = result
            else:
                soak.refused.append((status, answer))
        time.sleep(rng.uniform(0.2, 1.0))


def cause_faults(chaos, soak, rng, started, until):
    """Cause a fault every 8 to 10 s until ``until``: each kind in turn, in a shuffled order.

    A fault strikes even while the last one's server is still away; only a
    server that is away already is not struck again, and another kind is drawn.
    """
    bag = []
    next_fault = started + rng.uniform(8, 10)
    while next_fault < until or chaos.away:
        back = chaos.restore()
        chaos.supervise()
        if next_fault < until and next_fault <= time.monotonic():
            bag = bag or rng.sample(Chaos.KINDS, len(Chaos.KINDS))
            ready = [kind for kind in bag if kind not in chaos.away]
            if not ready:
                next_fault += 1  # Only servers that are away are left: strike a second later.
                continue
            kind = ready[-1]
            bag.remove(kind)
            soak.faults.append((round(time.monotonic() - started), kind))
            print(f"soak: {time.monotonic() - started:5.1f} s: {kind}", flush=True)
            chaos.cause(kind)
            next_fault += rng.uniform(8, 10)
            continue
        due = [moment for moment in (back, next_fault if next_fault < until else None) if moment]
        # A second at most, so that a worker that exits is started again soon.
        time.sleep(min(1, max(0, min(due) - time.monotonic())) if due else 0)
    chaos.ready()


def follow_all(stack, ids, timeout):
    """Every workflow of ``ids`` read through the API until it has finished, or ``timeout`` passed."""
    finished = {}
    deadline = time.monotonic() + timeout
    while len(finished) < len(ids) and time.monotonic() < deadline:
        for workflow_id in set(ids) - set(finished):
            try:
                status, workflow, _ = stack.call("GET", f"/api/workflows/{workflow_id}/")
            except (OSError, ValueError):  # no answer, or not JSON
                continue
            if status == 200 and workflow["state"] in FINISHED:
                finished[workflow_id] = workflow
        time.sleep(1)
    return finished


def summary(workflow):
    steps = ", ".join(
        f"{step['name']} {step['state']} tries={step['tries']} {step['error'] or ''}".strip()
        for step in workflow["steps"]
    )
    return f"{workflow['id']} {workflow['testcase']} {workflow['state']}: {steps}"


def test_no_workflow_is_lost_while_faults_come_one_after_another():
    print(f"\nsoak: seed {SEED} (SOAK_SEED={SEED} replays its draws), {SECONDS:.0f} s", flush=True)
    rng = random.Random(SEED)
    soak = Soak()
    with PrivatePostgres() as database, private_stack(database, env=ENV) as stack:
        beat = stack.beat(every=ENV["REPAIR_EVERY"]).start()
        chaos = Chaos(stack, soak, beat, random.Random(rng.random()))
        try:
            started = time.monotonic()
            until = started + SECONDS
            clients = [
                threading.Thread(
                    target=start_workflows, args=(stack, soak, random.Random(rng.random()), until)
                )
                for _ in range(2)
            ]
            for client in clients:
                client.start()
            cause_faults(chaos, soak, random.Random(rng.random()), started, until)
            for client in clients:
                client.join()
            # Every server is back and every worker runs: the workflows must all end.
            finished = follow_all(stack, list(soak.accepted), timeout=180)
            unfinished = [
                summary(stack.read(f"/api/workflows/{workflow_id}/"))
                for workflow_id in soak.accepted
                if workflow_id not in finished
            ]
            count = stack.read("/api/workflows/")["count"]
        finally:
            beat.stop()
            chaos.stop()
        logs = {worker.node: worker.log() for worker in chaos.workers}
    kinds = Counter(kind for _, kind in soak.faults)
    right = [
        workflow_id
        for workflow_id, result in soak.accepted.items()
        if workflow_id in finished
        and (finished[workflow_id]["state"], finished[workflow_id]["result"]) == ("SUCCESS", result)
    ]
    wrong = [summary(finished[i]) for i in soak.accepted if i in finished and i not in right]
    print(
        f"soak: seed {SEED}, {SECONDS:.0f} s, faults {dict(kinds)}: "
        f"{len(soak.accepted)} accepted, {len(right)} right, {len(wrong)} wrong, "
        f"{len(unfinished)} unfinished, {len(soak.refused)} refused, "
        f"{len(soak.exits)} workers or beats exited by themselves",
        flush=True,
    )
    for line in wrong[:20]:
        print("soak: wrong:", line)
    for line in unfinished[:20]:
        print("soak: unfinished:", line)
    if unfinished or wrong:
        for node, log in logs.items():
            print(f"--- {node}, its last lines:\n" + "\n".join(log.splitlines()[-80:]))
    assert set(kinds) == {"worker", "pool", "broker", "redis", "database"}, soak.faults
    assert not unfinished, f"seed {SEED}: {len(unfinished)} workflows never finished"
    assert not wrong, f"seed {SEED}: {len(wrong)} workflows ended wrong"
    # Every refusal said why, in JSON: 503, naming the service that was away.
    assert all(
        status == 503 and isinstance(answer, dict) and "service" in answer
        for status, answer in soak.refused
    ), [refusal for refusal in soak.refused if refusal[0] != 503][:5]
    # Nothing is stored for a refused start.
    assert count == len(soak.accepted)
