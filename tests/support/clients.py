"""Client scripts in processes of their own, and a day run from a copy of its folder."""

import os
import shutil
import subprocess
import sys

from sprout import REPO, DayWorker
from sprout.worker import DEFAULT_QUEUE, queue_env


def run_client(code, *, cwd, queue, node=None, env=None, timeout=60):
    """Run a client script in its own Python process and return what it printed.

    The script starts in ``cwd``, as a reader's shell would, after lines that
    name the worker (``worker_node``) and import ``taskrunner``; it sends its
    tasks to ``queue``, through the same environment as the worker's
    (``sprout.worker.queue_env``). With ``queue=None``, the script imports
    nothing of its own accord and is put on no queue.
    """
    prologue = f"worker_node = {node!r}\n"
    if queue is not None:
        prologue += "import taskrunner\n"
    completed = subprocess.run(
        [sys.executable, "-c", prologue + code],
        cwd=cwd,
        env={**os.environ, **(queue_env(queue) if queue else {}), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise AssertionError(f"the client script failed:\n{completed.stderr}")
    return completed.stdout.strip()


def run_from_copy(day, destination, code, *, prepare=None, elsewhere=None):
    """Copy ``day``'s folder to ``destination``, run the README's worker command there, run ``code``.

    This is the copy-as-template use: nothing of the course is needed but the
    copy, and the worker is ``celery -A taskrunner worker -l INFO`` on Celery's
    default queue, as a reader starts it (so tests that use this must not run
    at the same time: mark them ``default_queue``). ``prepare(copy)`` may change
    the copy before the worker starts. With ``elsewhere``, worker and client
    start in that folder instead, with the copy on ``PYTHONPATH``. Returns what
    ``code`` printed.
    """
    copy = shutil.copytree(REPO / day, destination, ignore=shutil.ignore_patterns("__pycache__"))
    if prepare:
        prepare(copy)
    # These tests check values, not states: the shortest delay will do.
    cwd, env = copy, {"TASK_DELAY": "0"}
    if elsewhere:
        cwd, env = elsewhere, {**env, "PYTHONPATH": str(copy)}
    worker = DayWorker(day, folder=copy, cwd=cwd, queue=DEFAULT_QUEUE, env=env)
    worker.purge()
    worker.start()
    try:
        return run_client(code, cwd=cwd, queue=worker.queue, node=worker.node, env=env)
    finally:
        # The next test may start its worker while this one's pool winds down.
        worker.stop(wait=False)
