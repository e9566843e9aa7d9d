"""Real clients read the API's schema: a generated Python client runs a test case with a token,
and the TypeScript generator writes the API's types.

The API runs as in ``make serve`` (authentication on, a database and a queue
of its own, a real worker). ``openapi-python-client`` generates a Python
package from its /api/schema/, as a new user would, and the test imports it,
starts ESG-TC01 through it and follows the workflow to its result;
``openapi-typescript`` writes the same schema's TypeScript types. A warning
from either fails the test: a generator that warns has left something out.

Both generators are installed at exact versions, on first use, into
tests/clients/ (which git ignores): openapi-python-client from
tests/clients/requirements.txt into a virtual environment of its own, because
it needs httpx below 0.29 and requirements-test.txt pins 0.29.0; openapi-typescript
by ``npm ci`` from tests/clients/package-lock.json. A machine without npm
fails the test rather than skip it (.ci/run installs npm).
"""

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import time
import typing
import venv

import pytest

from sprout import REPO
from tests.support import api_stack

pytestmark = [
    pytest.mark.xdist_group("clients"),
    pytest.mark.starts("make serve, and two client generators"),
]

CLIENTS = REPO / "tests" / "clients"
ESG_TC01 = {"testcase": "ESG-TC01", "job_data": {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}}


def install_once(folder, pins, install):
    """Run ``install()`` unless ``folder`` was installed from these very ``pins`` already.

    The digest of the pins, written last, marks a complete install: a changed
    pin, or an install that was interrupted, installs again from scratch.
    """
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()
    marker = folder / ".installed"
    if marker.exists() and marker.read_text() == digest:
        return
    shutil.rmtree(folder, ignore_errors=True)
    install()
    marker.write_text(digest)


@pytest.fixture(scope="module")
def python_generator():
    """openapi-python-client, in tests/clients/.venv."""
    environment = CLIENTS / ".venv"
    pins = CLIENTS / "requirements.txt"

    def install():
        venv.create(environment, with_pip=True)
        subprocess.run(
            [environment / "bin" / "python", "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", pins],
            check=True, timeout=600,
        )  # fmt: skip

    install_once(environment, pins, install)
    return environment / "bin"


@pytest.fixture(scope="module")
def typescript_generator():
    """openapi-typescript, in tests/clients/node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: apt-get install npm (.ci/run does)")

    def install():
        command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(command, cwd=CLIENTS, check=True, timeout=600)

    install_once(CLIENTS / "node_modules", CLIENTS / "package-lock.json", install)
    return CLIENTS / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with api_stack.deployed("clients", tmp_path_factory.mktemp("clients")) as served:
        yield served


@pytest.fixture(scope="module")
def token(served):
    return api_stack.token(served, "ada")


def generate_python_client(generator, url, folder):
    """The package that ``openapi-python-client generate`` writes from the schema at ``url``,
    imported; fails on any warning."""
    package = "workflows_client"
    run = subprocess.run(
        [generator / "openapi-python-client", "generate", "--url", url,
         "--meta", "none", "--output-path", folder / package],
        cwd=folder, capture_output=True, text=True, timeout=120,
        # It formats what it writes with the ruff of its own environment.
        env={**os.environ, "PATH": f"{generator}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    output = (run.stdout + run.stderr).strip()
    # All it says when nothing is wrong; a warning, or an error, adds lines.
    assert run.returncode == 0 and output == f"Generating {folder / package}", output
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))


def body_of_testcase(start, testcase):
    """The generated type of the body that starts ``testcase``, built from it.

    The schema gives each test case its own body (its steps and their
    operands), and the generator names the types after the schema's titles:
    of the types that ``start`` accepts, the one that reads this test case.
    """
    accepted = typing.get_args(typing.get_type_hints(start.sync)["body"])
    bodies = []
    for body_type in accepted:
        try:
            bodies.append(body_type.from_dict(testcase))
        except (ValueError, KeyError, TypeError):
            continue
    assert len(bodies) == 1, (accepted, bodies)
    return bodies[0]


def test_the_generated_python_client_runs_a_test_case_with_a_token(
    python_generator, served, token, tmp_path
):
    client = generate_python_client(python_generator, f"{served.url}/api/schema/", tmp_path)
    start = importlib.import_module(f"{client.__name__}.api.workflows.api_workflows_create")
    read = importlib.import_module(f"{client.__name__}.api.workflows.api_workflows_retrieve")
    workflow_type = importlib.import_module(f"{client.__name__}.models").Workflow

    with client.AuthenticatedClient(base_url=served.url, token=token, prefix="Token") as api:
        started = start.sync(client=api, body=body_of_testcase(start, ESG_TC01))
        assert isinstance(started, workflow_type), started
        deadline = time.monotonic() + 30
        workflow = started
        while workflow.state not in {"SUCCESS", "FAILURE", "REVOKED"}:
            assert time.monotonic() < deadline, workflow
            time.sleep(0.1)
            workflow = read.sync(started.id, client=api)
            assert isinstance(workflow, workflow_type), workflow

    assert (workflow.state, workflow.result) == ("SUCCESS", 10.0), workflow
    assert [step.state for step in workflow.steps] == ["SUCCESS"] * 4


def test_openapi_typescript_writes_the_apis_types(typescript_generator, served, tmp_path):
    types = tmp_path / "schema.d.ts"
    run = subprocess.run(
        [typescript_generator / "openapi-typescript", f"{served.url}/api/schema/", "-o", types],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # It prints its name and what it wrote; a warning of its schema check adds lines.
    assert len(output.strip().splitlines()) == 2, output
    written = types.read_text()
    assert '"/api/workflows/": {' in written and '"/api/workflows/{id}/": {' in written, written
    assert "Workflow: {" in written, written
    # And what it wrote is TypeScript that the TypeScript compiler reads.
    check = subprocess.run(
        [typescript_generator / "tsc", "--noEmit", "--strict", types],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
