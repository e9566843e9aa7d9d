"""Faults caused for real, on processes a test started itself: one function per fault.

``kill_worker`` and ``kill_pool_process`` break a ``DayWorker``; a private
broker or Redis (``private_services.py``) is stopped, restarted or wiped
with its own methods. None of them touches a process the test did not start.
"""

import os
import signal
import time


def kill_worker(worker):
    """SIGKILL a worker and its pool processes at once, as a machine that loses power would.

    ``DayWorker.kill``, which the API's notebook shows a reader too.
    """
    worker.kill()


def running_task(worker, timeout=10):
    """``(task id, pid)`` of a task that ``worker`` is running now, and of its pool process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = worker.control.inspect([worker.node], timeout=1).active() or {}
        for task in replies.get(worker.node, []):
            return task["id"], task["worker_pid"]
        time.sleep(0.05)
    raise TimeoutError(f"{worker.node} has run no task for {timeout} s")


def kill_pool_process(worker):
    """SIGKILL the pool process of a task that runs now, as the out-of-memory killer would.

    The worker's main process lives on: it sees its child die and starts
    another. Returns the id of the task that was running there.
    """
    task_id, pid = running_task(worker)
    os.kill(pid, signal.SIGKILL)
    return task_id
