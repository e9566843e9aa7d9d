"""What the API's record of truth costs: workflows per second through the API, against the bare chain.

Both are measured in one run, on RabbitMQ + Redis, with one API worker whose
steps do not sleep (``TASK_DELAY=0``) and the API served by gunicorn on a
SQLite database of its own:

- the bare chain: ESG-TC01's four steps sent straight to the worker, as day 7
  sends them, and waited for with ``get()``; no row of the database is written;
- through the API: the same workflow POSTed by 25 clients at once, each
  following its workflows with a GET every half second until they have
  finished; the worker writes every step into the database as it changes.

The two take turns for a few rounds, so that both see the same machine, and
the median round of each is printed, with their ratio: what the API, and
keeping every step in its database, cost a workflow. This is a measurement,
not a test: it exits 0 whatever the figures, and fails only when the stack
cannot run.

Usage::

    # From the top of the course, with RabbitMQ and Redis running.
    .venv/bin/python benchmarks/api_throughput.py [--rounds 5] [--workflows 200] [--poll 0.5]
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid

from celery import Celery, chain

from sprout.api import API, FINISHED, ApiServer
from sprout.services import broker_url, check_services, result_backend_url
from sprout.worker import DayWorker

STEPS = ("div", "mul", "add", "sub")
JOB_DATA = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
CLIENTS = 25
WARMUP = 20


def bare_chains(app, count):
    """Send ``count`` chains straight to the worker, wait for every result; workflows per second."""
    signatures = [app.signature(f"steps.{step}", kwargs={"job_data": JOB_DATA}) for step in STEPS]
    started = time.perf_counter()
    results = [chain(*signatures).apply_async() for _ in range(count)]
    for result in results:
        value = result.get(timeout=120)
        if value != {"sub_result": 10.0}:
            raise AssertionError(f"a chain returned {value!r}")
    rate = count / (time.perf_counter() - started)
    for result in results:
        result.forget()
    return rate


def call(method, url, body=None):
    request = urllib.request.Request(url, method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.load(response)


def through_the_api(url, count, poll):
    """POST ``count`` workflows from 25 clients, follow each to its end; workflows per second."""
    failures = []

    def client(share):
        try:
            locations = []
            for _ in range(share):
                status, workflow = call(
                    "POST", f"{url}/api/workflows/", {"testcase": "ESG-TC01", "job_data": JOB_DATA}
                )
                if status != 202:
                    raise AssertionError(f"POST answered {status}: {workflow}")
                locations.append(workflow["links"]["self"])
            for location in locations:
                while (workflow := call("GET", location)[1])["state"] not in FINISHED:
                    time.sleep(poll)
                if workflow["result"] != 10.0:
                    raise AssertionError(f"a workflow ended {workflow['state']}: {workflow}")
        except Exception as exc:
            failures.append(exc)

    shares = [count // CLIENTS + (index < count % CLIENTS) for index in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--workflows", type=int, default=200, help="workflows timed each way in a round (200)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each way, in turns (5)")
    parser.add_argument(
        "--poll", type=float, default=0.5, help="seconds between two GETs of a client (0.5)"
    )
    args = parser.parse_args()
    os.environ.pop("CELERY_CONFIG_MODULE", None)
    problems = check_services()
    if problems:
        sys.exit("\n".join(map(str, problems)))
    queue = f"bench-api-{uuid.uuid4().hex[:8]}"
    # A thousand starts in a few minutes: far above the API's default limit per user.
    server = ApiServer(env={"CELERY_TASK_DEFAULT_QUEUE": queue, "API_START_RATE": "100000/minute"})
    worker = DayWorker(
        "api",
        folder=API,
        app="config",
        queue=queue,
        env={"TASK_DELAY": "0", "DATABASE_URL": server.database_url},
    )
    app = Celery("bench", broker=broker_url(), backend=result_backend_url(), set_as_current=False)
    app.conf.task_default_queue = queue
    bare, api = [], []
    try:
        server.start()
        worker.start()
        bare_chains(app, WARMUP)
        through_the_api(server.url, WARMUP, args.poll)
        # In turns, so that both ways see the same machine, then the median of each.
        for _ in range(args.rounds):
            bare.append(bare_chains(app, args.workflows))
            api.append(through_the_api(server.url, args.workflows, args.poll))
    finally:
        worker.stop()
        worker.delete_queue()
        server.stop()
        app.close()
    bare, api = statistics.median(bare), statistics.median(api)
    print(
        f"ESG-TC01 (4 steps), {args.workflows} workflows each way, {args.rounds} rounds, "
        f"TASK_DELAY=0, one worker; the median round"
    )
    print(f"{'bare chain, sent straight to the worker':<44} {bare:6.1f} workflows/s")
    print(f"{'through the API, 25 clients, every step kept':<44} {api:6.1f} workflows/s")
    print(f"{'API / bare chain':<44} {api / bare:6.2f}")


if __name__ == "__main__":
    main()
