"""The compose stack for real: docker-compose.yml and api/Dockerfile built, started, driven
from this machine, and torn down.

The project's files are used unchanged, as a reader gets them. What differs from a
reader's machine: the official images are stood in for by images built here
(tests/support/stand_ins/, built once and kept); the settings are a .env of the test's
own (made from .env.example, as the README's `cp` makes it) passed with --env-file, with
free ports of this machine for every published port, since RabbitMQ and Redis of the
machine's own hold 5672 and 6379; and the project has a name of its own. At the end,
`docker compose down -v` leaves no container, network or volume behind.
"""

import base64
import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from sprout import REPO
from sprout.processes import port_for_later
from tests.support import compose_stack
from tests.support.readme_blocks import readme_block, substitute

# One stack for the whole module, in one process of pytest-xdist.
pytestmark = [
    pytest.mark.xdist_group("stack"),
    pytest.mark.starts("the compose stack, in containers"),
]

APP_SERVICES = ("worker", "background", "beat", "api", "flower")
BACKING_SERVICES = ("broker", "redis", "db")
# Celery beat answers no ping, so it has no health check (tests/test_compose.py says why).
UNCHECKED = {"beat"}
PORTS = ("API_PORT", "FLOWER_PORT", "RABBITMQ_MANAGEMENT_PORT", "RABBITMQ_PORT", "REDIS_PORT")
# The steps sleep a little, not the 5 s a reader watches.
TASK_DELAY = "0.2"
RESULTS = {
    "ESG-TC01": ({"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}, 10.0),
    "ESG-TC02": ({"div": [4, 2], "mul": [3]}, 6.0),
    "ESG-TC03": ({"add": [3, 2], "sub": [1]}, 4),
}
ADMIN_PASSWORD = "the admin's password"
# Each run's project: a name of its own, so that nothing of a reader's stack is touched.
PROJECT_PREFIX = "sprout-stack-"


class Stack:
    def __init__(self, project, env_file, settings, environment):
        self.project, self.env_file, self.settings = project, env_file, settings
        self.environment = environment

    def port(self, name):
        return int(self.settings[name])

    def url(self, name, path="/"):
        return f"http://127.0.0.1:{self.port(name)}{path}"

    def options(self):
        """What the test puts after `docker compose`: its project, its settings."""
        return ["-p", self.project, "--env-file", str(self.env_file)]

    def compose(self, *arguments, timeout=300, check=True, cwd=REPO):
        done = subprocess.run(
            ["docker", "compose", *self.options(), *arguments],
            cwd=cwd, env=self.environment, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, (arguments, done.stdout[-3000:], done.stderr[-3000:])
        return done

    def containers(self):
        """Each service's container, as `docker inspect` describes it."""
        ids = self.compose("ps", "-a", "-q").stdout.split()
        described = json.loads(compose_stack.docker("inspect", *ids).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in described}


def env_file_from_example(path):
    """.env.example, as `cp .env.example .env` gives it, with what the README says to set
    (DJANGO_SECRET_KEY, FLOWER_BASIC_AUTH) and a free port for each published one."""
    values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FLOWER_BASIC_AUTH": f"student:{secrets.token_urlsafe(12)}",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "TASK_DELAY": TASK_DELAY,
        **{name: str(port_for_later()) for name in PORTS},
    }
    lines, settings = [], {}
    for line in (REPO / ".env.example").read_text().splitlines():
        name, equals, value = line.partition("=")
        if equals and not line.startswith("#"):
            value = values.pop(name, value)
            settings[name] = value
            line = f"{name}={value}"
        lines.append(line)
    assert not values, f".env.example no longer sets {sorted(values)}"
    path.write_text("\n".join(lines) + "\n")
    return settings


def request(url, *, token=None, auth=None, data=None, timeout=30):
    """(status, body) of a request from this machine."""
    headers = {}
    if token:
        headers["Authorization"] = f"Token {token}"
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    if data is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(data).encode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers), timeout=timeout
        ) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = compose_stack.engine_missing()
    if reason:
        pytest.fail(f"the compose stack cannot run: {reason}")
    try:
        compose_stack.stand_ins()
        folder = tmp_path_factory.mktemp("stack")
        config = compose_stack.docker_config(folder / "docker")
    except compose_stack.StackUnavailable as error:
        pytest.fail(f"the compose stack cannot run: {error}")
    env_file = folder / ".env"
    settings = env_file_from_example(env_file)
    # Compose takes a variable of the environment over the same one in the env file:
    # the tests' own settings (their queues, ports, delays) must not reach the stack.
    environment = {
        **{name: value for name, value in os.environ.items() if name not in settings},
        "DOCKER_CONFIG": str(config),
    }
    project = f"{PROJECT_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    stack = Stack(project, env_file, settings, environment)
    # api/README.md's block: `cp .env.example .env` (done above, into the test's own file,
    # which --env-file names), then `docker compose up --build`, with --wait, so that it
    # returns once every service is healthy rather than following their logs.
    copy, up = readme_block("api/README.md", "cp .env.example .env          # then set").words
    assert copy == ["cp", ".env.example", ".env"], copy
    assert up[:2] == ["docker", "compose"], up
    try:
        stack.compose(*up[2:], "--wait", "--wait-timeout", "300", timeout=1200)
        yield stack
    finally:
        down = stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        left = compose_stack.project_resources(project)
        compose_stack.remove_replaced_images(PROJECT_PREFIX)
        assert down.returncode == 0, down.stderr
        assert not any(left.values()), f"the stack left {left}"


@pytest.fixture(scope="module")
def users(stack):
    """api/README.md's "Before you deploy", each command through `docker compose exec api`:
    the superuser admin, the user ada, and ada's token."""
    block = readme_block(
        "api/README.md", "python manage.py migrate\npython manage.py createsuperuser"
    )
    for command in block.commands:
        words = shlex.split(command)
        assert words[:3] == ["python", "manage.py", words[2]], command
        options = []
        if "createsuperuser" in words:
            # createsuperuser asks for the password; --noinput takes it from the environment.
            words.append("--noinput")
            options = ["-e", f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}"]
        done = stack.compose("exec", "-T", *options, "api", *words)
    key = re.fullmatch(r"Generated token (\w+) for user ada\n", done.stdout).group(1)
    # ada's password, as the README's create_user sets it.
    password = re.search(r"create_user\('ada', password='([^']+)'\)", block.text).group(1)
    return {"token": key, "ada": password}


def wait_for(workflow_id, stack, token, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status, body = request(stack.url("API_PORT", f"/api/workflows/{workflow_id}/"), token=token)
        assert status == 200, body
        workflow = json.loads(body)
        if workflow["state"] not in {"PENDING", "STARTED"}:
            return workflow
        assert time.monotonic() < deadline, workflow
        time.sleep(0.2)


@pytest.fixture(scope="module")
def workflows(stack, users):
    """The three test cases, started through the API by ada, each read until it ends."""
    started = {}
    for testcase, (job_data, _) in RESULTS.items():
        status, body = request(
            stack.url("API_PORT", "/api/workflows/"),
            token=users["token"], data={"testcase": testcase, "job_data": job_data},
        )  # fmt: skip
        assert status == 202, body  # accepted: it runs on the workers
        started[testcase] = json.loads(body)["id"]
    return {name: wait_for(id, stack, users["token"]) for name, id in started.items()}


# --- Production posture, on the running stack ------------------------------------------


def test_every_service_is_healthy_by_its_own_check(stack):
    containers = stack.containers()
    assert set(containers) == {*APP_SERVICES, *BACKING_SERVICES}
    for name, container in containers.items():
        state = container["State"]
        assert state["Status"] == "running", (name, state)
        if name in UNCHECKED:
            assert "Healthcheck" not in container["Config"], name
        else:
            assert container["Config"]["Healthcheck"]["Test"], name
            assert state["Health"]["Status"] == "healthy", (name, state["Health"])


def test_the_app_services_run_unprivileged_and_cannot_write_their_code(stack):
    for name in APP_SERVICES:
        done = stack.compose(
            "exec", "-T", name, "sh", "-c",
            "id -u; id -un; touch /app/written 2>/dev/null && echo wrote || echo refused",
        )  # fmt: skip
        uid, user, wrote = done.stdout.split()
        assert (uid != "0", user, wrote) == (True, "workflows", "refused"), (name, done.stdout)


def test_every_published_port_listens_on_loopback_only(stack):
    published = {}
    for name, container in stack.containers().items():
        for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                published[(name, port)] = binding
    assert {
        ("api", "8000/tcp"), ("flower", "5555/tcp"), ("broker", "5672/tcp"),
        ("broker", "15672/tcp"), ("redis", "6379/tcp"),
    } == set(published)  # fmt: skip
    for place, binding in published.items():
        assert binding["HostIp"] == "127.0.0.1", (place, binding)
    assert published[("api", "8000/tcp")]["HostPort"] == stack.settings["API_PORT"]


def test_the_api_refuses_anonymous_requests(stack):
    status, body = request(stack.url("API_PORT", "/api/workflows/"))
    assert status == 401, body
    status, body = request(
        stack.url("API_PORT", "/api/workflows/"), data={"testcase": "ESG-TC03", "job_data": {}}
    )
    assert status == 401, body


# --- Driven from this machine, as a reader would -------------------------------------------


def test_the_readmes_commands_make_users_whose_token_the_api_takes(stack, users, workflows):
    # The README's curl, with ada's token: her three workflows, started above.
    (command,) = readme_block("api/README.md", "curl -H 'Authorization: Token <key>'").commands
    done = subprocess.run(
        ["bash", "-c", substitute(command, port=stack.port("API_PORT"), key=users["token"])],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = {workflow["id"] for workflow in json.loads(done.stdout)["results"]}
    assert {workflow["id"] for workflow in workflows.values()} <= listed, done.stdout


def test_the_three_test_cases_run_to_their_results(workflows):
    for testcase, (_, result) in RESULTS.items():
        workflow = workflows[testcase]
        assert (workflow["state"], workflow["result"]) == ("SUCCESS", result), workflow
        assert {step["state"] for step in workflow["steps"]} == {"SUCCESS"}, workflow


def test_a_workflows_page_shows_it_after_the_login_form(stack, users, workflows):
    from sprout.browser import chromium

    base = stack.url("API_PORT").rstrip("/")
    workflow = workflows["ESG-TC01"]
    with chromium() as browser:
        context = browser.new_context(base_url=base)
        page = context.new_page()
        page.goto(f"/workflows/{workflow['id']}/")
        assert page.url.startswith(f"{base}/accounts/login/"), page.url
        page.fill("#id_username", "ada")
        page.fill("#id_password", users["ada"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/workflows/{workflow['id']}/")
        assert page.inner_text("#state") == "SUCCESS"
        assert page.inner_text("#result") == "10.0"
        context.close()


def test_flower_asks_for_its_password(stack):
    status, _ = request(stack.url("FLOWER_PORT", "/api/workers"))
    assert status == 401
    status, _ = request(stack.url("FLOWER_PORT", "/api/workers"), auth="student:wrong")
    assert status == 401
    status, body = request(
        stack.url("FLOWER_PORT", "/api/workers"), auth=stack.settings["FLOWER_BASIC_AUTH"]
    )
    assert status == 200, body
    status, body = request(stack.url("FLOWER_PORT"), auth=stack.settings["FLOWER_BASIC_AUTH"])
    assert status == 200 and "Flower" in body


def test_rabbitmqs_management_pages_answer(stack):
    status, body = request(stack.url("RABBITMQ_MANAGEMENT_PORT"))
    assert status == 200 and "RabbitMQ Management" in body, body[:500]
    status, body = request(
        stack.url("RABBITMQ_MANAGEMENT_PORT", "/api/overview"), auth="guest:guest"
    )
    assert status == 200, body
    assert json.loads(body)["rabbitmq_version"]


def test_the_readme_starts_rabbitmq_and_redis_for_the_days(stack):
    # README.md: `cp .env.example .env` (the test's own, above), then compose starts the
    # broker and Redis only; here they run already, and answer on their published ports.
    copy, up = readme_block("README.md", "cp .env.example .env").words
    assert copy == ["cp", ".env.example", ".env"] and up[:2] == ["docker", "compose"], up
    stack.compose(*up[2:], "--wait", timeout=300)
    with socket.create_connection(("127.0.0.1", stack.port("REDIS_PORT")), timeout=10) as redis:
        redis.sendall(b"PING\r\n")
        assert redis.recv(64) == b"+PONG\r\n"
    with socket.create_connection(("127.0.0.1", stack.port("RABBITMQ_PORT")), timeout=10) as amqp:
        amqp.sendall(b"AMQP\x00\x00\x09\x01")
        assert amqp.recv(64)[:1] == b"\x01"  # connection.start: the broker speaks AMQP 0-9-1


def test_the_readmes_docker_build_builds_the_apis_image(stack):
    # api/README.md, "Deploy it", in api/: the image that the stack runs (its layers
    # cached by now, so this takes seconds).
    ((*build, context),) = readme_block("api/README.md", "docker build -t workflows-api .").words
    done = subprocess.run(
        [*build, context], cwd=REPO / "api", env=stack.environment,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    image = json.loads(compose_stack.docker("image", "inspect", "workflows-api").stdout)[0]
    assert image["Config"]["User"] == "workflows"
