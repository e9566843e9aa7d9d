"""Faults caused for real, on processes a test started itself: one function per fault.

``kill_worker`` and ``kill_pool_process`` break a ``DayWorker``; a private
broker or Redis (``sprout.private_services``) is stopped, restarted or wiped
with its own methods. None of them touches a process the test did not start.
"""

import os
import signal
import time

import psutil


def kill_worker(worker):
    """SIGKILL a worker and its pool processes at once, as a machine that loses power would.

    Nothing of it runs on: no task finishes, no message is acknowledged or
    given back. The broker notices the lost connection and hands the
    worker's unacknowledged messages to the next worker.
    """
    pool = psutil.Process(worker.process.pid).children(recursive=True)
    worker.process.kill()
    for process in pool:
        process.send_signal(signal.SIGKILL)
    # The main process is ours to collect; its pool processes are not.
    worker.process.wait(timeout=10)
    psutil.wait_procs(pool, timeout=10)


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
