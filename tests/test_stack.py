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

import json
import socket
import subprocess

import pytest

from sprout import REPO
from tests.support import compose_stack
from tests.support.compose_stack import request, wait_for
from tests.support.readme_blocks import readme_block, substitute

# One stack for the whole module, in the process of pytest-xdist that runs the stack's
# fault tests too, before them (compose_stack.XDIST_GROUP).
pytestmark = [
    pytest.mark.xdist_group(compose_stack.XDIST_GROUP),
    pytest.mark.starts("the compose stack, in containers"),
]

APP_SERVICES = ("worker", "background", "beat", "api", "flower")
BACKING_SERVICES = ("broker", "redis", "db")
# Celery beat answers no ping, so it has no health check (tests/test_compose.py says why).
UNCHECKED = {"beat"}
# The steps sleep a little, not the 5 s a reader watches.
TASK_DELAY = "0.2"
RESULTS = {
    "ESG-TC01": ({"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}, 10.0),
    "ESG-TC02": ({"div": [4, 2], "mul": [3]}, 6.0),
    "ESG-TC03": ({"add": [3, 2], "sub": [1]}, 4),
}
# Each run's project: a name of its own, so that nothing of a reader's stack is touched.
PROJECT_PREFIX = "sprout-stack-"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from compose_stack.running_stack(
        tmp_path_factory, prefix=PROJECT_PREFIX, task_delay=TASK_DELAY
    )


@pytest.fixture(scope="module")
def users(stack):
    """api/README.md's "Before you deploy": the superuser admin, the user ada, her token."""
    return compose_stack.readme_users(stack)


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


def test_prometheus_reads_the_apis_and_the_workers_metrics(stack, workflows):
    # The API's /metrics, from this machine, with the token of the stack's .env.
    url = stack.url("API_PORT", "/metrics")
    status, body = request(url)
    assert status == 401, body
    status, body = request(url, token=stack.settings["METRICS_TOKEN"], scheme="Bearer")
    assert status == 200, body
    api = compose_stack.samples(body)
    for testcase in RESULTS:
        assert api[("workflows_started_total", (("testcase", testcase),))] >= 1, testcase
        assert api[("workflows_running", (("testcase", testcase),))] == 0, testcase
    # The steps' worker serves its own on port 9808 of the stack's network, where
    # Prometheus (docker-compose.prometheus.yml) reads it; it is not published here.
    worker = compose_stack.worker_metrics(stack)
    for testcase in RESULTS:
        ended = ("workflows_ended_total", (("state", "SUCCESS"), ("testcase", testcase)))
        assert worker[ended] >= 1, testcase
    steps = {
        labels: value for (name, labels), value in worker.items()
        if name == "step_duration_seconds_count"
    }  # fmt: skip
    # ESG-TC01's four steps, ESG-TC02's two and ESG-TC03's two, at least: the fixture's.
    assert sum(steps.values()) >= 4 + 2 + 2, steps


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
