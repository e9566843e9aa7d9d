"""The API's own tests (api/tests/), run as a reader runs them: in api/, with chapter 11's commands.

api/ is what a reader copies, and its tests go with it: they must pass from
api/ alone, on api/pytest.ini (not the course's pyproject.toml, nor its
conftest.py), with what api/requirements-test.txt installs, against the live
broker and result store, with a worker of their own in their own process.
"""

import os
import re
from pathlib import Path

import pytest

from sprout import REPO
from sprout.services import broker_url, result_backend_url
from tests.support.readme_blocks import readme_block, run_script

pytestmark = pytest.mark.starts("api/'s own tests, as a reader runs them from api/")

#: How many tests api/tests/ holds.
API_TESTS = 10


def test_the_apis_own_tests_pass_when_run_from_api_alone():
    block = readme_block(
        "api/chapters/11_testing_your_tasks.md", "pip install -r requirements-test.txt"
    )
    # A terminal of the reader's: nothing of this pytest's environment (no
    # DJANGO_SETTINGS_MODULE, no TASK_DELAY, no PYTEST_ variables), only the
    # broker and the result store the course runs on, and the course's .venv
    # first on PATH (run_script puts it there).
    terminal = {
        "PATH": os.environ["PATH"],
        "HOME": str(Path.home()),
        "CELERY_BROKER_URL": broker_url(),
        "CELERY_RESULT_BACKEND": result_backend_url(),
        # pip would otherwise ask PyPI for its own newest version.
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    done = run_script(block, cwd=REPO / "api", base=terminal, timeout=180)
    assert "configfile: pytest.ini" in done.stdout, done.stdout
    summary = done.stdout.rstrip().splitlines()[-1]
    assert re.fullmatch(rf"=+ {API_TESTS} passed in [\d.]+s =+", summary), done.stdout[-3000:]
