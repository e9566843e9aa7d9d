"""The API's OpenAPI schema tells the truth: schemathesis finds no request it describes wrongly.

schemathesis reads /api/schema/ from ``make serve`` (authentication on, a
database and a queue of its own, a real worker), generates requests from it,
valid and invalid, and runs every one of its checks on the answers: no 5xx;
each status, header and body as the schema says; valid bodies accepted and
invalid ones refused; 401 without the token. Forty examples per operation
(about 1,100 requests, half a minute here) find what ten did not: a page
number that is no number. A fixed seed and no cache of earlier runs (it runs
in a folder of its own) keep the run the same each time, as far as the
server's answers do (each workflow gets a new id).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sprout import REPO
from tests.support import api_stack

pytestmark = [pytest.mark.xdist_group("schema"), pytest.mark.starts("make serve, and schemathesis")]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = REPO / "tests" / "schemathesis.toml"
EXAMPLES_PER_OPERATION = "40"
SEED = "1"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # schemathesis starts hundreds of workflows a minute: deployed() lifts the limit,
    # which has tests of its own.
    with api_stack.deployed("schema", tmp_path_factory.mktemp("schema")) as served:
        yield served


@pytest.fixture(scope="module")
def token(served):
    return api_stack.token(served, "schema")


def test_schemathesis_finds_no_failure_with_every_check(served, token, tmp_path):
    run = subprocess.run(
        [
            SCHEMATHESIS, "--config-file", CONFIG, "--no-color",
            "run", f"{served.url}/api/schema/",
            "--checks", "all",
            "--max-examples", EXAMPLES_PER_OPERATION,
            "--seed", SEED,
            "--generation-database", "none",
            "--header", f"Authorization: Token {token}",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    # Every operation of the schema was tried, authenticated.
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert selected and len(set(selected.groups())) == 1, run.stdout
    assert "Missing authentication" not in run.stdout, run.stdout


def test_without_a_token_schemathesis_gets_401_wherever_the_schema_says_so(served, tmp_path):
    run = subprocess.run(
        [
            SCHEMATHESIS, "--config-file", CONFIG, "--no-color",
            "run", f"{served.url}/api/schema/",
            "--checks", "all", "--phases", "examples,coverage",
            "--max-examples", "3", "--seed", SEED, "--generation-database", "none",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
