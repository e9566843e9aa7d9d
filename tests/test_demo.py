"""``make demo``: the whole course in one run, on RabbitMQ + Redis, in Docker, or on files."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from sprout import REPO, demo
from sprout.processes import free_port
from sprout.services import embedded
from tests.support.readme_blocks import assert_prints, readme_block

pytestmark = pytest.mark.starts("make demo, on both stacks")


# make check runs this module twice: on RabbitMQ + Redis, then on the embedded
# stack. make demo picks its stack itself, so each test runs in one of them:
# the demo without any server in the second, where there is room for it.
live_leg = pytest.mark.skipif(embedded(), reason="the run on RabbitMQ + Redis has this test")
embedded_leg = pytest.mark.skipif(not embedded(), reason="the run on the embedded stack has it")

# What the tour prints, day by day: the results of each day's README example.
RESULTS = {
    "day0": ["8"],
    "day1": ["4"],
    "day2": ["6"],
    "day3": ["5"],
    "day4": [
        "chain, apply_async:     10.0",
        "group:                  [1.0, 16, 5, 0]",
        "diamond (chord):        3",
    ],
    "day5": [
        "arithmetic.add(2, 3) = 5",
        "arithmetic.div(1, 0): FAILURE ZeroDivisionError('division by zero')",
    ],
    "day6": ["sub    SUCCESS 10.0", "result: 10.0"],
    "day7": ["result:   {'sub_result': 10.0}"],
}


def fake_docker(folder, *, engine):
    """A ``docker`` command that records its arguments; with ``engine``, an engine answers.

    Its ``compose up`` starts nothing: the broker and the result store it
    "starts" are the ones already running on this machine's standard ports.
    """
    folder.mkdir(exist_ok=True)
    script = folder / "docker"
    calls = folder / "calls"
    answer = (
        'case "$1" in info) echo 28.2.2;; esac; exit 0'
        if engine
        else 'echo "Cannot connect to the Docker daemon. Is the docker daemon running?" >&2; exit 1'
    )
    script.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n{answer}\n')
    script.chmod(0o755)
    return calls


def run_demo(tmp_path, env):
    """Run ``make demo`` as a reader would (the README's first command), and check that it
    leaves nothing behind (--no-print-directory: run inside make check, make would name the
    directories it enters)."""
    assert readme_block("README.md", "make demo").words[0] == ["make", "demo"]
    temporary = tmp_path / "tmp"  # the demo's temporary files (worker logs, the API's database)
    temporary.mkdir()
    before = git_status()
    completed = subprocess.Popen(
        ["make", "--no-print-directory", "demo"],
        cwd=REPO,
        env={**os.environ, "TASK_DELAY": "0.2", "TMPDIR": str(temporary), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: whatever it started is found below
    )
    try:
        output = completed.communicate(timeout=240)[0]
    finally:
        left = leftover_processes(completed.pid)
    assert completed.returncode == 0, output
    assert not left, f"make demo left processes running:\n{output}"
    assert list(temporary.iterdir()) == [], "make demo left temporary files"
    assert git_status() == before, "make demo left files outside the ignored folders"
    return output


def leftover_processes(group):
    """Whether any process of the group is still there after a short grace (then killed)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)
    return True


def git_status():
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def check_tour(output):
    """Every day in order with its command, its results and what it taught; then the API."""
    positions = []
    for number, lesson in enumerate(demo.LESSONS):
        header = output.index(f"Day {number}: {lesson.title}\n  $ cd {lesson.day} && ")
        positions.append(header)
        section = output[header:].split("  Learned: ", 1)
        for line in RESULTS[lesson.day]:
            assert f"\n    {line}\n" in section[0], (lesson.day, line, output)
        assert section[1].startswith(lesson.taught)
    assert positions == sorted(positions)
    api = output.index("The API: ")
    assert api > positions[-1]
    assert re.search(r"202 Accepted: workflow [0-9a-f-]{36}, steps div → mul → add → sub", output)
    assert re.search(
        r"\n  its page, live while the demo runs: http://127\.0\.0\.1:\d+/workflows/[0-9a-f-]{36}/\n",
        output,
    )
    # manage.py watch, on a pipe: one line per change, then the outcome.
    assert "\nsub    SUCCESS 10.0\nESG-TC01: SUCCESS, result 10.0\n" in output
    assert "  state SUCCESS, result 10.0\n" in output
    assert re.search(r"\nDone in \d+ s; every process the demo started has stopped\.\n$", output)


@live_leg
def test_demo_tours_the_course_on_rabbitmq_and_redis(tmp_path):
    output = run_demo(tmp_path, {})
    assert "\nStack: RabbitMQ + Redis, because they answer at amqp://" in output
    check_tour(output)
    # The README's transcript of it, from the stack it picked on (what comes before, make's
    # command and the title, it leaves out).
    transcript = readme_block("README.md", "Stack: RabbitMQ + Redis, because they answer at")
    assert_prints(transcript, output, shown=["…", *transcript.lines])


@embedded_leg
def test_demo_runs_on_files_without_any_server_or_docker(tmp_path):
    closed = free_port()
    bin_folder = tmp_path / "bin"
    calls = fake_docker(bin_folder, engine=False)
    folder = f".embedded/test-demo-{uuid.uuid4().hex[:8]}"
    env = {
        "CELERY_CONFIG_MODULE": "",  # as on a new machine: nothing chosen beforehand
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{closed}//",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{closed}/0",
        "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
        "SPROUT_EMBEDDED_FOLDER": folder,
    }
    try:
        output = run_demo(tmp_path, env)
    finally:
        shutil.rmtree(REPO / folder, ignore_errors=True)
    stack = output.split("\n\n")[1]
    assert stack.startswith("Stack: embedded, because ")
    assert (
        f"RabbitMQ (the broker) is not reachable at amqp://guest:**@127.0.0.1:{closed}//" in stack
    )
    assert f"Redis (the result store) is not reachable at redis://127.0.0.1:{closed}/0" in stack
    assert "no Docker engine answers (Cannot connect to the Docker daemon." in stack
    assert f"Messages and results are files under {folder}/." in stack
    assert calls.read_text().splitlines() == ["info --format {{.ServerVersion}}"]
    check_tour(output)


@live_leg
def test_with_a_docker_engine_the_demo_starts_the_compose_services(tmp_path, monkeypatch):
    calls = fake_docker(tmp_path / "bin", engine=True)
    closed = free_port()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    # The URLs the demo sets for the containers, restored after the test.
    monkeypatch.setenv("CELERY_BROKER_URL", f"amqp://guest:guest@127.0.0.1:{closed}//")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", f"redis://127.0.0.1:{closed}/0")
    monkeypatch.delenv("CELERY_CONFIG_MODULE", raising=False)
    stack, why, stop = demo.choose_stack()
    assert (stack, why) == ("RabbitMQ + Redis in Docker", "docker compose started them")
    assert os.environ["CELERY_BROKER_URL"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert os.environ["CELERY_RESULT_BACKEND"] == "redis://127.0.0.1:6379/0"
    assert calls.read_text().splitlines() == [
        "info --format {{.ServerVersion}}",
        "compose up -d --wait broker redis",
    ]
    assert stop == ["docker", "compose", "stop", "broker", "redis"]


@live_leg
def test_the_tour_types_what_each_readme_gives_its_second_terminal():
    typed = {lesson.day: lesson.second_terminal for lesson in demo.LESSONS}
    assert typed["day0"].typed[:2] == (
        ">>> from taskrunner import add",
        ">>> result = add.delay(4, 4)",
    )
    assert typed["day3"].typed[-1] == '>>> count_words.delay("a rose is a rose").get()'
    for day in ("day0", "day1", "day2", "day3"):
        assert typed[day].kind == "pycon" and typed[day].shown == "python", day
    for day, script in [
        ("day4", "workflows"),
        ("day5", "send_by_name"),
        ("day6", "status"),
        ("day7", "jobs"),
    ]:
        assert typed[day].typed == (f"python {script}.py",), day
        assert (REPO / day / f"{script}.py").is_file()


@live_leg
def test_a_python_session_is_replayed_line_by_line_and_stops_at_an_error(tmp_path):
    session = ">>> x = 2\n>>> for n in range(2):\n...     print(x + n)\n...\n>>> x / 0\n>>> x\n"
    done = subprocess.run(
        [sys.executable, "-m", "sprout.replay"],
        input=session, cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.stdout.splitlines() == [
        ">>> x = 2", ">>> for n in range(2):", "...     print(x + n)", "...", "2", "3", ">>> x / 0",
    ]  # fmt: skip
    assert done.stderr.splitlines()[-1] == "ZeroDivisionError: division by zero"
    assert done.returncode == 1


@live_leg
def test_a_failing_step_stops_everything_and_says_which(tmp_path):
    # A day whose example fails: the demo names it, exits 1, and stops its workers.
    code = (
        "import sys\n"
        "from sprout import demo\n"
        "from sprout.readmes import SecondTerminal\n"
        "class Broken(demo.Lesson):\n"
        "    second_terminal = SecondTerminal('console', ('python -c \"raise SystemExit(3)\"',))\n"
        "demo.LESSONS = demo.LESSONS[:1] + (Broken('day1', 'broken', ''),)\n"
        "sys.exit(demo.main())\n"
    )
    demo_run = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "TASK_DELAY": "0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = demo_run.communicate(timeout=120)
    finally:
        left = leftover_processes(demo_run.pid)
    assert not left, stdout + stderr
    assert demo_run.returncode == 1, stdout + stderr
    completed = subprocess.CompletedProcess(demo_run.args, 1, stdout, stderr)
    assert "make demo failed: day1's example ended with status 3" in completed.stderr
    assert "    8\n" in completed.stdout  # day 0 ran first
    assert "Done in" not in completed.stdout
