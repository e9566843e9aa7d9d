"""``make demo``: the whole course in one command, on any machine.

Usage::

    make demo                   # tasks sleep 0.5 s, so the tour takes about a minute
    make demo TASK_DELAY=5      # at the tutorial's pace

1. The stack. RabbitMQ and Redis when they answer at the configured URLs
   (``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND``); else the two services of
   ``docker-compose.yml``, started with ``docker compose up -d broker redis``
   when a Docker engine answers; else the embedded stack, with no server at
   all (``sprout/embedded.py``). The demo says which, and why.
2. The tour. Every day's worker starts in the day's folder, as its README's
   first terminal would start it; then each day's example runs there, as its
   README's second terminal would run it, and prints its result, with one line
   of what the day taught.
3. The API. Its worker and the API itself (gunicorn) start; a workflow is
   submitted over HTTP; ``manage.py watch`` shows its steps live until the end;
   the API gives the result.

Each worker reads a queue of this run's own, and each example sends its
tasks there, so a worker you left running never takes the demo's tasks
(``sprout/queue_settings.py`` says how). Whatever
the demo started stops before it ends, when a step fails too (the demo then
says which and exits with status 1) and on Ctrl+C.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
import uuid
from dataclasses import dataclass

from kombu.utils.url import maybe_sanitize_url

from .api import API, ApiServer
from .paths import REPO
from .processes import stop_on_signal
from .readmes import second_terminal
from .services import broker_url, check_services, result_backend_url
from .worker import DayWorker, queue_env

DEFAULT_DELAY = "0.5"
# Each run's queues are its own: two demos at once never take each other's tasks.
RUN = uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class Lesson:
    day: str
    title: str
    taught: str

    @property
    def second_terminal(self):
        """What the day's README types in its second terminal, run as it is in the day's folder."""
        return second_terminal(self.day)


LESSONS = (
    Lesson(
        "day0",
        "a first task",
        "@app.task makes a function a task: delay() sends it to a worker, get() waits "
        "for its result.",
    ),
    Lesson(
        "day1",
        "the package layout",
        "the app lives in celery.py and its tasks in tasks.py; the result store keeps each "
        "result, and a task reports STARTED while it runs.",
    ),
    Lesson(
        "day2",
        "several task modules",
        "the app's include= lists every module whose tasks the worker knows.",
    ),
    Lesson(
        "day3",
        "task modules found automatically",
        "every module under taskrunner/tasks/ is found, at any depth: add one, and the "
        "worker knows its tasks.",
    ),
    Lesson(
        "day4",
        "workflows with canvas",
        "a chain hands each result to the next step, .si() runs a step on its own "
        "arguments, a group runs steps side by side, and a chord joins them.",
    ),
    Lesson(
        "day5",
        "a base task class and named tasks",
        "a base class's hooks log every task's start, success and failure; a task sent by "
        "its name needs none of its code.",
    ),
    Lesson(
        "day6",
        "the status of every step",
        "every step of a workflow, in order, its state read in one round trip while it runs.",
    ),
    Lesson(
        "day7",
        "job data for every step",
        "one dict of job data reaches every step of a chain, and each step's result arrives "
        "as keyword arguments.",
    ),
)

TESTCASE = "ESG-TC01"
JOB_DATA = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}


class DemoFailed(Exception):
    """A step of the demo went wrong; the message says which."""


def say(text=""):
    print(text, flush=True)


def indented(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


# 1. The stack ------------------------------------------------------------------


def docker_engine():
    """``(True, version)`` when a Docker engine answers, else ``(False, the reason)``."""
    docker = shutil.which("docker")
    if docker is None:
        return False, "there is no docker command"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return False, "docker info did not answer within 20 s"
    if info.returncode != 0 or not info.stdout.strip():
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return False, f"no Docker engine answers ({reason})"
    return True, f"Docker engine {info.stdout.strip()}"


def wait_for_services(timeout=90):
    deadline = time.monotonic() + timeout
    while problems := check_services(timeout=2):
        if time.monotonic() > deadline:
            raise DemoFailed("the containers started, but " + " ".join(map(str, problems)))
        time.sleep(1)


def choose_stack():
    """Pick the stack and set this process's environment for it.

    Returns the stack's name, why it was chosen, and what to do at the end.
    """
    if os.environ.get("CELERY_CONFIG_MODULE") == "sprout.embedded":
        return "embedded", "CELERY_CONFIG_MODULE=sprout.embedded asks for it", None
    live = f"{maybe_sanitize_url(broker_url())} and {maybe_sanitize_url(result_backend_url())}"
    problems = check_services(timeout=2)
    if not problems:
        return "RabbitMQ + Redis", f"they answer at {live}", None
    reasons = [problem.summary for problem in problems]
    engine, engine_reason = docker_engine()
    if engine:
        say(f"{' and '.join(reasons)}; starting them with Docker ({engine_reason}):")
        compose = ["docker", "compose", "up", "-d", "--wait", "broker", "redis"]
        say(f"  $ {shlex.join(compose)}")
        # Compose reads the whole file, and refuses it without the secrets of the
        # API and Flower, which RabbitMQ and Redis do not use.
        env = {
            "DJANGO_SECRET_KEY": "not-used-by-rabbitmq-or-redis",
            "FLOWER_BASIC_AUTH": "not-used:by-rabbitmq-or-redis",
            **os.environ,
        }
        started = subprocess.run(compose, cwd=REPO, env=env)
        if started.returncode == 0:
            # The compose file publishes both on this machine's loopback only.
            rabbitmq_port = os.environ.get("RABBITMQ_PORT", "5672")
            redis_port = os.environ.get("REDIS_PORT", "6379")
            os.environ["CELERY_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:{rabbitmq_port}//"
            os.environ["CELERY_RESULT_BACKEND"] = f"redis://127.0.0.1:{redis_port}/0"
            stop = ["docker", "compose", "stop", "broker", "redis"]
            try:
                wait_for_services()
            except DemoFailed:
                subprocess.run(stop, cwd=REPO)
                raise
            return "RabbitMQ + Redis in Docker", "docker compose started them", stop
        reasons.append("docker compose could not start them")
    else:
        reasons.append(engine_reason)
    # Every process the demo starts from now on inherits the embedded stack's
    # URLs, which importing its settings puts in the environment.
    os.environ["CELERY_CONFIG_MODULE"] = "sprout.embedded"
    from . import embedded  # noqa: F401 (importing it is the switch: see sprout/embedded.py)

    return "embedded", "; ".join(reasons), None


# 2. The tour -------------------------------------------------------------------


def run_example(lesson, worker, env):
    """Run a day's example in its folder, as the README's second terminal would."""
    typed = lesson.second_terminal
    if typed.kind == "console":
        command, session = shlex.split(typed.typed[0]), None
        command[0] = sys.executable  # `python`, from the course's environment
    else:  # a Python session, typed line by line as the README shows it
        command, session = [sys.executable, "-m", "sprout.replay"], "\n".join(typed.typed)
    # The example sends its tasks to the queue its worker reads.
    env = {**os.environ, **env, **queue_env(worker.queue)}
    try:
        done = subprocess.run(
            command,
            input=session or "",  # a script reads nothing: its input is empty
            cwd=worker.folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        raise DemoFailed(f"{lesson.day}'s example did not finish within 120 s") from exc
    if done.returncode != 0:
        raise DemoFailed(
            f"{lesson.day}'s example ended with status {done.returncode}:\n{indented(done.stdout)}"
        )
    return done.stdout


def tour(env, started):
    day_workers = [
        DayWorker(lesson.day, queue=f"sprout-demo-{RUN}-{lesson.day}", env=env)
        for lesson in LESSONS
    ]
    say("Each day's worker starts in the day's folder: celery -A taskrunner worker -l INFO,")
    say("on a queue of this run's own; day 0's, as it runs:")
    say(f"  $ {day_workers[0].command_line}")
    for worker in day_workers:
        started.append(worker.launch())
    for worker in day_workers:
        try:
            worker.wait_until_ready()
        except (RuntimeError, TimeoutError) as exc:
            raise DemoFailed(f"the {worker.day} worker did not start: {exc}") from exc
    for number, (lesson, worker) in enumerate(zip(LESSONS, day_workers, strict=True)):
        say()
        say(f"Day {number}: {lesson.title}")
        say(f"  $ cd {lesson.day} && {lesson.second_terminal.shown}")
        say(indented(run_example(lesson, worker, env)))
        say(f"  Learned: {lesson.taught}")
    # The days' workers wind down while the API starts; the end waits for them.
    for worker in day_workers:
        worker.stop(wait=False)


# 3. The API --------------------------------------------------------------------


def post_json(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.load(response)


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def api_tour(env, started):
    say()
    say("The API: day 7's job chain for a named test case, over HTTP")
    queue = f"sprout-demo-{RUN}-api"
    # The API sends its steps to the queue its worker reads (its settings read the variable).
    env = {**env, **queue_env(queue, app="config")}
    server = ApiServer(env=env)
    # The worker writes each step into the API's database, as it runs.
    worker_env = {**env, "DATABASE_URL": server.database_url}
    worker = DayWorker("api", folder=API, app="config", queue=queue, env=worker_env)
    started.append(worker)
    say("  its worker:  cd api && celery -A config worker -l INFO")
    try:
        worker.start()
    except (RuntimeError, TimeoutError) as exc:
        raise DemoFailed(f"the API's worker did not start: {exc}") from exc
    started.append(server)
    say(
        f"  the API:     cd api && API_ALLOW_ANONYMOUS=1 gunicorn config.wsgi --bind 127.0.0.1:{server.port}"
    )
    say("               (anonymous access, for this machine only: a deployment asks for a user)")
    try:
        server.start()
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        raise DemoFailed(f"the API did not start: {exc}") from exc
    url = f"{server.url}/api/workflows/"
    body = {"testcase": TESTCASE, "job_data": JOB_DATA}
    say()
    say(f"  $ curl -H 'Content-Type: application/json' -d '{json.dumps(body)}' {url}")
    try:
        status, workflow = post_json(url, body)
    except OSError as exc:
        raise DemoFailed(f"the API did not take the workflow: {exc}\n{server.log()}") from exc
    steps = " → ".join(step["name"] for step in workflow["steps"])
    say(f"  {status} Accepted: workflow {workflow['id']}, steps {steps}")
    say(f"  its page, live while the demo runs: {workflow['links']['page']}")
    say()
    say(f"  $ cd api && python manage.py watch {workflow['id']}")
    sys.stdout.flush()
    watched = subprocess.run(
        [sys.executable, "manage.py", "watch", str(workflow["id"])],
        cwd=API,
        env=server.env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    workflow = get_json(workflow["links"]["self"])
    say()
    say(f"  $ curl {workflow['links']['self']}")
    say(f"  state {workflow['state']}, result {workflow['result']}")
    if watched.returncode != 0 or workflow["state"] != "SUCCESS":
        raise DemoFailed(f"the workflow ended in {workflow['state']}: {workflow.get('error')}")


# -------------------------------------------------------------------------------


def stop_all(started):
    """Stop every worker and server the demo started, the last started first."""
    for process in reversed(started):
        if isinstance(process, DayWorker):
            process.stop(wait=False)  # All of them wind down together...
    for process in reversed(started):
        process.stop()  # ...and each is waited for.
        if isinstance(process, DayWorker):
            process.delete_queue()


def main():
    signal.signal(signal.SIGTERM, stop_on_signal)
    began = time.monotonic()
    delay = os.environ.setdefault("TASK_DELAY", DEFAULT_DELAY)
    say(f"Celery: Seed to Sprout, the demo (tasks sleep TASK_DELAY={delay} s)")
    say()
    started, stop_stack = [], None
    try:
        stack, why, stop_stack = choose_stack()
        say(f"Stack: {stack}, because {why}.")
        if stack == "embedded":
            from .embedded import FOLDER

            where = FOLDER.relative_to(REPO) if FOLDER.is_relative_to(REPO) else FOLDER
            say(f"  Messages and results are files under {where}/.")
        say()
        env = {"TASK_DELAY": delay}
        tour(env, started)
        api_tour(env, started)
    except DemoFailed as exc:
        print(f"\nmake demo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nmake demo interrupted: stopping what it started", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(f"\nmake demo failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(started)
        if stop_stack:
            subprocess.run(stop_stack, cwd=REPO)
    say()
    say(f"Done in {time.monotonic() - began:.0f} s; every process the demo started has stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
