"""Fixtures shared by every day's tests.

A test module names its lesson (``DAY = "day1"``) and asks for the ``day``
fixture: the day's ``taskrunner`` imported in this process, and its worker
running from the day's folder against the live broker and result store.
"""

import pytest

from sprout.testing import Day


@pytest.fixture(scope="module")
def day(request):
    with Day(request.module.DAY) as running:
        yield running
