"""Waiting for a workflow of the API, or one of its steps, to reach a state."""

import time

from sprout.api import FINISHED


def wait_for_state(row, states, timeout=10):
    """``row`` (a step of the API), read again until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while row.state not in states:
        assert time.monotonic() < deadline, row
        time.sleep(0.02)
        row.refresh_from_db()
    return row


def wait_until_finished(client, url, timeout=30):
    """Read a workflow through the API until its state is final; return the last reading.

    ``client.get(url).json()`` reads it: a Django test client or ``requests``-like object.
    Ten times a second: each reading costs the test's process a few milliseconds
    of CPU, and a test that waits for a whole workflow needs no quicker news.
    """
    deadline = time.monotonic() + timeout
    while True:
        workflow = client.get(url).json()
        if workflow["state"] in FINISHED:
            return workflow
        if time.monotonic() > deadline:
            raise AssertionError(f"the workflow has not finished within {timeout} s: {workflow}")
        time.sleep(0.1)
