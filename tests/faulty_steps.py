"""Steps that go wrong on purpose, for the API's fault tests; the API itself never runs them.

A test starts the API's worker with ``--include faulty_steps`` (this folder on
its ``PYTHONPATH``), so that the worker knows them beside the real steps, and
starts workflows of them with ``runs.jobs.launch``. Each reads its job data
under its own name, as every step does.
"""

import os
import signal
import time
from pathlib import Path

import redis.exceptions
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from runs.base import JobStep


@shared_task(base=JobStep, name="steps.poison")
def poison(*, job_data, **previous):
    """Kill the process that runs it, every time, as a step that runs out of memory would."""
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(base=JobStep, name="steps.hang", soft_time_limit=1, time_limit=5)
def hang(*, job_data, **previous):
    """Never return; Celery stops it at its soft time limit."""
    time.sleep(3600)


@shared_task(base=JobStep, name="steps.stubborn", soft_time_limit=1, time_limit=2)
def stubborn(*, job_data, **previous):
    """Never return, and ignore the soft time limit; Celery kills it at the hard one."""
    while True:
        try:
            time.sleep(3600)
        except SoftTimeLimitExceeded:
            continue


@shared_task(base=JobStep, name="steps.flaky")
def flaky(*, job_data, **previous):
    """Fail with a lost connection while the file ``job_data["flaky"]`` exists; then succeed."""
    if Path(job_data["flaky"]).exists():
        raise redis.exceptions.ConnectionError("Connection refused (while the test says so)")
    return {"flaky_result": sum(previous.values())}
