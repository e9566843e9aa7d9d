"""How long a 4-step chain of day 4 takes on RabbitMQ + Redis and on the embedded stack.

The chain is ``chain(add.s(1, 1), add.s(1), add.s(1), add.s(1))``, whose result
is 5, run by a day-4 worker whose tasks do not sleep (``TASK_DELAY=0``): what is
left is the time the messages and the results take to travel. Each stack is
measured in a child process of its own, because the stack is chosen before any
Celery app is configured. Files cost the embedded chain about two to three
times the live one's time. This is a measurement, not a test: it exits 0
whatever the figures, and fails only when a stack cannot run.

Usage::

    # From the top of the course: both stacks, one after the other, and their ratio.
    .venv/bin/python benchmarks/chain_latency.py [--runs 50]

    # One stack alone, its figures as one JSON line.
    .venv/bin/python benchmarks/chain_latency.py --stack embedded
"""

import argparse
import importlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid

from celery import chain

from sprout import REPO, DayWorker
from sprout.services import check_services

STACKS = {"live": "RabbitMQ + Redis", "embedded": "embedded (files)"}
# The benchmark's own folder, relative to the top of the course, so that it
# never touches the messages of a course that runs on .embedded/ itself.
EMBEDDED_FOLDER = ".embedded/bench"
WARMUP_RUNS = 5


def choose_stack(stack):
    """Point this process, and the worker it starts, at ``stack``: before any app is configured."""
    if stack == "embedded":
        os.environ["CELERY_CONFIG_MODULE"] = "sprout.embedded"
        os.environ["SPROUT_EMBEDDED_FOLDER"] = EMBEDDED_FOLDER
    else:
        for name in ("CELERY_CONFIG_MODULE", "SPROUT_EMBEDDED_FOLDER"):
            os.environ.pop(name, None)


def run_chain(add):
    """Send the chain, wait for its result and return how long that took, in seconds."""
    start = time.perf_counter()
    result = chain(add.s(1, 1), add.s(1), add.s(1), add.s(1)).apply_async()
    # A plain get(), as in the lessons: Redis pushes the result to the client;
    # the embedded stack's file store is asked every 5 ms (sprout/filesystem.py).
    value = result.get(timeout=30)
    elapsed = time.perf_counter() - start
    if value != 5:
        raise AssertionError(f"the chain returned {value!r}, not 5")
    # Forget every step's result, so that the live leg leaves nothing in Redis.
    result.forget()
    return elapsed


def measure(stack, runs):
    """Time ``runs`` chains on ``stack`` with a day-4 worker of its own; figures in ms."""
    choose_stack(stack)
    problems = check_services()
    if problems:
        sys.exit("\n".join(map(str, problems)))
    worker = DayWorker("day4", queue=f"bench-{uuid.uuid4().hex[:8]}", env={"TASK_DELAY": "0"})
    app = None
    try:
        worker.start()
        sys.path.insert(0, str(worker.folder))
        app = importlib.import_module("taskrunner").app
        # Before the first message is sent: the chain goes to this worker's queue.
        app.conf.task_default_queue = worker.queue
        add = importlib.import_module("taskrunner.tasks.arithmetic").add
        for _ in range(WARMUP_RUNS):
            run_chain(add)
        times = sorted(run_chain(add) * 1000 for _ in range(runs))
    finally:
        worker.stop()
        worker.delete_queue()
        if app is not None:
            app.close()
        if stack == "embedded":
            shutil.rmtree(REPO / EMBEDDED_FOLDER, ignore_errors=True)
    return {
        "stack": stack,
        "runs": runs,
        "median_ms": statistics.median(times),
        # The nearest-rank 90th percentile: nine runs in ten took at most this long.
        "p90_ms": times[math.ceil(0.9 * runs) - 1],
        "min_ms": times[0],
    }


def measure_in_child(stack, runs):
    """Run ``measure`` in a new Python process and return its figures."""
    completed = subprocess.run(
        [sys.executable, __file__, "--stack", stack, "--runs", str(runs)],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.exit(f"the {STACKS[stack]} leg failed:\n{completed.stderr.strip()}")
    return json.loads(completed.stdout.splitlines()[-1])


def report(figures, runs):
    print(f"4-step chain of day 4, {runs} runs each, TASK_DELAY=0")
    print(f"{'stack':<20} {'median':>9} {'p90':>9} {'min':>9}")
    for stack, row in figures.items():
        print(
            f"{STACKS[stack]:<20} {row['median_ms']:6.1f} ms {row['p90_ms']:6.1f} ms "
            f"{row['min_ms']:6.1f} ms"
        )
    ratio = figures["embedded"]["median_ms"] / figures["live"]["median_ms"]
    print(f"{'embedded / live':<20} {ratio:6.1f}x")


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--runs", type=positive, default=50, help="chains timed per stack")
    parser.add_argument(
        "--stack", choices=STACKS, help="measure this stack alone and print its figures as JSON"
    )
    args = parser.parse_args()
    if args.stack:
        print(json.dumps(measure(args.stack, args.runs)))
        return
    # The live stack first: without RabbitMQ and Redis there is no ratio to give.
    figures = {stack: measure_in_child(stack, args.runs) for stack in STACKS}
    report(figures, args.runs)


if __name__ == "__main__":
    main()
