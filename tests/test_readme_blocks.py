"""Every command block of the course's markdown runs, as written, in some test.

A test that runs a block takes its text from the README
(``tests/support/readme_blocks.readme_block(path, first_line)``, with literal
arguments): change the README, and that test runs the change. The coverage
test below reads every test's source and finds those calls: each ``console``
or ``pycon`` block of README.md, day0/ ... day7/, api/README.md and
api/chapters/ is run by one of them, or is one of the few exempt here, each
with its reason. This module also runs the blocks that no other test module runs.
"""

import ast
import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from sprout import REPO
from sprout.processes import free_port
from sprout.services import broker_connection, embedded
from sprout.worker import api_queues, queue_env
from tests.support.days import unique_queue
from tests.support.readme_blocks import (
    command_blocks,
    markdown_files,
    readme_block,
    run_script,
    shell_env,
    substitute,
)

# Blocks that continuous integration runs itself: .ci/run runs make check (which runs make
# test first) and make soak (checked below).
CI = "CI runs it: .ci/run runs make check, which runs make test first, then make soak"
EXEMPT = {
    ("README.md", "make test       # after every change"): CI,
    ("README.md", "make soak"): CI,
}
CI_COMMANDS = (["make", "test"], ["make", "check"], ["make", "soak"])


def claims():
    """Every ``readme_block("<file>", "<first line>")`` call in the tests' sources, with the
    places that make it."""
    found = {}
    for path in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name != "readme_block" or path.name == "readme_blocks.py":
                continue
            arguments = [
                argument.value for argument in node.args if isinstance(argument, ast.Constant)
            ]
            place = f"{path.relative_to(REPO)}:{node.lineno}"
            if path == Path(__file__) and len(arguments) < len(node.args):
                continue  # this module's own look-ups of the exempt blocks
            assert len(arguments) == len(node.args) == 2, (
                f"{place}: readme_block takes two literals"
            )
            found.setdefault(tuple(arguments), []).append(place)
    return found


def test_every_command_block_is_run_by_a_test_or_exempt_for_a_reason():
    run, problems = {}, []
    for (path, first_line), places in claims().items():
        try:
            block = readme_block(path, first_line)
        except (LookupError, FileNotFoundError) as error:
            problems.append(f"{places[0]} asks for a block that is not there: {error}")
            continue
        run.setdefault((block.path, block.line), []).extend(places)
    exempt = {}
    for (path, first_line), reason in EXEMPT.items():
        block = readme_block(path, first_line)
        assert (block.path, block.line) not in run, f"{block} is exempt, yet a test runs it"
        exempt[(block.path, block.line)] = reason
    for path in markdown_files():
        for block in command_blocks(path):
            if (block.path, block.line) not in run | exempt:
                problems.append(f"no test runs {block}")
    assert not problems, "\n".join(problems)


def test_the_exempt_blocks_are_what_ci_runs():
    for (path, first_line), reason in EXEMPT.items():
        block = readme_block(path, first_line)
        assert reason == CI
        assert all(words in CI_COMMANDS for words in block.words), block


def test_ci_runs_make_check_which_runs_make_test_and_make_soak():
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "make check" in ci and "make soak" in ci
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^check: test\b", makefile, re.M), "make check no longer runs make test"
    # The README's first block names make test too: the demo's test runs its make demo.
    assert readme_block("README.md", "make demo").words[1] == ["make", "test"]


# The course README's blocks that no other module runs ------------------------------------


def clean_environment(**extra):
    """This environment without what pytest, pytest-xdist and make put there for their own
    processes: a make or a pytest started from a test starts afresh, as in a terminal."""
    own = ("PYTEST_", "MAKE", "MFLAGS", "DJANGO_SETTINGS_MODULE")
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith(own)},
        **extra,
    }


def test_set_up_makes_the_venv_activates_it_and_says_the_services_answer():
    # make test has made .venv already: make venv finds it up to date.
    block = readme_block("README.md", "make venv")
    done = run_script(block, base=clean_environment(), timeout=120)
    said = done.stdout.rstrip().splitlines()[-1]
    if embedded():  # CELERY_CONFIG_MODULE=sprout.embedded: make services says so
        assert said.startswith("the embedded stack: "), done.stdout
    else:
        assert said.endswith("are reachable"), done.stdout


def test_one_variable_puts_make_services_on_the_embedded_stack(tmp_path):
    # Its files in a folder of the test's, as make test-embedded keeps its own.
    folder = {"SPROUT_EMBEDDED_FOLDER": str(tmp_path / "embedded")}
    block = readme_block("README.md", "export CELERY_CONFIG_MODULE=sprout.embedded")
    done = run_script(block, env=folder, base=clean_environment())
    assert "the embedded stack: messages and results in files under " in done.stdout, done.stdout


@pytest.mark.starts("the API's worker on the embedded stack, as the README starts it by hand")
def test_the_apis_worker_runs_by_hand_on_the_embedded_stack(tmp_path):
    # In api/, the README's two lines in a terminal of their own; the embedded stack's
    # files and the API's database in folders of the test's.
    env = clean_environment(
        SPROUT_EMBEDDED_FOLDER=str(tmp_path / "embedded"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    block = readme_block("README.md", "export DJANGO_SETTINGS_MODULE=sprout.embedded_api")
    (export, assignment), worker = block.words
    assert export == "export" and worker[:3] == ["celery", "-A", "config"]
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-c", block.script],
            cwd=REPO / "api", env=shell_env(env), stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "filesystem" in text, text  # the embedded stack's broker, in its banner
        # The same settings in another terminal: the worker answers a ping there.
        ping = subprocess.run(
            ["bash", "-c", f"export {shlex.quote(assignment)}\ncelery -A config inspect ping"],
            cwd=REPO / "api", env=shell_env(env), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "pong" in ping.stdout, ping.stdout + ping.stderr
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # Ctrl+C's warm shutdown, to the whole terminal
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.default_queue  # make test DAY=4 runs day 4's test from a copy, on Celery's queue
@pytest.mark.starts("make test DAY=4 and make test-embedded DAY=4: pytest, workers, a kernel")
def test_one_days_tests_run_alone_on_both_stacks(tmp_path):
    env = clean_environment(TMPDIR=str(tmp_path))
    for words in readme_block("README.md", "make test DAY=4").words:
        done = subprocess.run(
            [words[0], "--no-print-directory", *words[1:]],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (words, done.stdout[-3000:], done.stderr[-3000:])
        summary = done.stdout.rstrip().splitlines()[-1]
        assert re.search(r"\b\d+ passed\b", summary) and "failed" not in summary, summary


@pytest.mark.starts("make serve: the API, its worker, beat and Flower")
def test_make_serve_runs_the_capstone_that_the_readmes_curls_start_and_read(tmp_path):
    api_port, flower_port = free_port(), free_port()
    queue = unique_queue("readme-serve")
    env = clean_environment(
        API_PORT=str(api_port),  # make serve's port rather than 8000, the only difference
        FLOWER_PORT=str(flower_port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # Queues of its own, so that no other worker takes this stack's tasks.
        **queue_env(queue, app="config"),
    )
    ((make, target),) = readme_block("README.md", "make serve").words
    # A session of its own stands for the terminal: Ctrl+C reaches all of it.
    serve = subprocess.Popen(
        [make, "--no-print-directory", target],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/health/", timeout=2)
                break
            except OSError:
                assert serve.poll() is None, serve.stdout.read().decode()
                assert time.monotonic() < deadline, "make serve's API did not answer"
                time.sleep(0.2)
        # "Or from another terminal": start ESG-TC01, then read it with the id it answered.
        start, read = readme_block("README.md", "curl -H 'Content-Type: application/json'").commands
        workflow = json.loads(run_script_line(start, api_port))
        assert workflow["testcase"] == "ESG-TC01"
        read = substitute(read, id=workflow["id"])
        while (workflow := json.loads(run_script_line(read, api_port)))["state"] != "SUCCESS":
            assert workflow["state"] in {"PENDING", "STARTED"}, workflow
            assert time.monotonic() < deadline + 30, workflow
            time.sleep(0.1)
        assert workflow["result"] == 10.0
        assert [step["state"] for step in workflow["steps"]] == ["SUCCESS"] * 4
    finally:
        os.killpg(serve.pid, signal.SIGINT)  # Ctrl+C
        output = serve.communicate(timeout=60)[0].decode()
        with broker_connection() as connection:
            for name in api_queues(queue):
                connection.default_channel.queue_delete(name)
    assert "serve  | stopped" in output, output


def run_script_line(command, port):
    """One curl command of the README, sent to ``port`` rather than 8000: what it printed."""
    done = subprocess.run(
        ["bash", "-c", substitute(command, port=port)],
        env=shell_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout
