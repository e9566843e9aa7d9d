"""What a test reads of what ran: the commands sent to Redis, a task's log, a terminal's output."""

import io
import time

import pytest

from sprout.services import embedded


def record_redis_commands(app, monkeypatch):
    """From now on, the name of every command ``app`` sends to its Redis result store.

    Returns the list that fills up: how many round trips a read makes is
    counted, not timed.
    """
    if embedded():
        pytest.skip("the embedded stack keeps results in files: there are no Redis round trips")
    client = app.backend.client
    commands = []
    original = client.execute_command

    def recording(*args, **options):
        commands.append(args[0])
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", recording)
    return commands


def task_log(worker, task_id, count=1, timeout=30):
    """What a task's own logger wrote in the worker's log, once there are ``count`` lines.

    The worker writes each line as ``name[task id]: message``; this returns
    the messages, in order.
    """
    marker = f"[{task_id}]: "
    deadline = time.monotonic() + timeout
    while True:
        lines = [line.partition(marker)[2] for line in worker.log().splitlines() if marker in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


class Terminal(io.StringIO):
    """An output that says it is a terminal, for code that draws differently on one."""

    def isatty(self):
        return True
