"""What a deployment of the API gets: api/README.md's "Before you deploy", as written.

Django's ``check --deploy`` runs on the compose stack's own settings, read
from docker-compose.yml, and the README's commands that make users and tokens
run on a database of their own. The static files are served by the API
itself (whitenoise) with DEBUG off: as they are where nothing was collected,
and compressed, hashed and cached for good once collectstatic has run, as in
the image. Nothing here needs the broker.
"""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from sprout import REPO
from sprout.api import API, ApiServer
from tests.support.readme_blocks import readme_block, run_script

pytestmark = pytest.mark.starts("the API as deployed: collectstatic, gunicorn, check --deploy")


README = (REPO / "api" / "README.md").read_text()
# Only a server that serves HTTPS can silence these (the README's table).
HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def deploy_section():
    return README.split("### Before you deploy", 1)[1].split("\n## ", 1)[0]


def compose_api_environment():
    """The api service's environment in docker-compose.yml, as compose resolves it with
    nothing set: each ${NAME:-default} its default, each required ${NAME:?...} a value."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    environment = compose["services"]["api"]["environment"]
    required = {"DJANGO_SECRET_KEY": "k" + os.urandom(40).hex()}

    def resolve(value):
        value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: required[m.group(1)], str(value))
        return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)

    return {name: resolve(value) for name, value in environment.items()}


def check_deploy(env):
    """The README's check of a deployment, as written, in api/, on ``env``: its own
    DJANGO_SECRET_KEY, then ``check --deploy``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_"))}
    block = readme_block("api/README.md", "export DJANGO_SECRET_KEY=")
    run = run_script(block, cwd=API, env=env, base=clean, check=False)
    return run, set(re.findall(r"\(([\w.]+\.[WE]\d+)\)", run.stdout + run.stderr))


def test_the_compose_stack_asks_for_a_user_and_publishes_on_loopback_only():
    environment = compose_api_environment()
    assert "API_ALLOW_ANONYMOUS" not in environment
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for port in service.get("ports", ()):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_check_deploy_on_the_compose_settings_warns_only_about_https():
    run, issues = check_deploy(compose_api_environment())
    assert issues == HTTPS_WARNINGS, run.stdout + run.stderr
    # The README explains each of them.
    for warning in HTTPS_WARNINGS:
        assert f"`{warning}`" in deploy_section()


def test_behind_a_tls_proxy_the_check_is_silent():
    env = {
        **compose_api_environment(),
        "API_HTTPS": "1",
        "API_HSTS_INCLUDE_SUBDOMAINS": "1",
        "API_HSTS_PRELOAD": "1",
    }
    run, issues = check_deploy(env)
    assert issues == set(), run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_the_readmes_commands_make_a_user_and_a_token_that_the_api_takes(tmp_path):
    commands = readme_block(
        "api/README.md", "python manage.py migrate\npython manage.py createsuperuser"
    ).commands
    assert commands[0] == "python manage.py migrate"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # createsuperuser asks for the password; --noinput takes it from here.
        "DJANGO_SUPERUSER_PASSWORD": "the admin's password",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    for command in commands:
        assert command.startswith("python manage.py "), command
        if "createsuperuser" in command:
            command += " --noinput"
        run = subprocess.run(
            command.replace("python", sys.executable, 1),
            shell=True, cwd=API, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, (command, run.stdout, run.stderr)
    key = re.fullmatch(r"Generated token (\w+) for user ada\n", run.stdout).group(1)

    # The token, on a server that asks every request for a user.
    with ApiServer({"DATABASE_URL": env["DATABASE_URL"], "API_ALLOW_ANONYMOUS": ""}) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/api/workflows/", timeout=10)
        assert refused.value.code == 401
        # The README's curl, with that token.
        curl = readme_block("api/README.md", "curl -H 'Authorization: Token <key>'")
        answer = run_script(curl, port=server.port, key=key).stdout
        assert json.loads(answer)["count"] == 0


def page_assets(server, path):
    """The scripts, styles and icons that a page of the server loads, as paths."""
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as answer:
        html = answer.read().decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, f"{path} loads no static file"
    return assets


def fetch(server, path, **headers):
    request = urllib.request.Request(f"{server.url}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.headers, answer.read()


STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


def test_without_collectstatic_the_pages_and_the_docs_load_their_files_with_debug_off():
    # As make serve and a checkout run it: DEBUG off, nothing collected.
    with ApiServer() as server:
        assets = page_assets(server, "/workflows/") + page_assets(server, "/api/docs/")
        assert "/static/runs/pages.css" in assets and "/static/runs/workflows.js" in assets
        assert any("swagger-ui-bundle" in asset for asset in assets)
        for asset in assets:
            status, headers, body = fetch(server, asset)
            assert status == 200 and body, asset
            suffix = asset[asset.rindex(".") :]
            assert headers["Content-Type"].startswith(STATIC_TYPES[suffix]), asset


def test_the_images_collected_files_are_compressed_hashed_and_cached_for_good(tmp_path):
    # What api/Dockerfile does when it builds the image, then serves.
    env = {**os.environ, "DJANGO_STATIC_ROOT": str(tmp_path / "static")}
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=API, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    with ApiServer({"DJANGO_STATIC_ROOT": env["DJANGO_STATIC_ROOT"]}) as server:
        assets = page_assets(server, "/workflows/") + page_assets(server, "/api/docs/")
        assert len(assets) >= 5
        for asset in assets:
            # Each name holds a hash of the file's content: a changed file gets a new one.
            assert re.search(r"\.[0-9a-f]{12}\.\w+$", asset), asset
            status, headers, body = fetch(server, asset, **{"Accept-Encoding": "gzip"})
            assert status == 200 and body, asset
            assert "immutable" in headers["Cache-Control"], asset
            max_age = int(re.search(r"max-age=(\d+)", headers["Cache-Control"]).group(1))
            assert max_age >= 365 * 24 * 3600, asset
            if not asset.endswith(".png"):
                assert headers["Content-Encoding"] == "gzip", asset


def test_no_static_file_is_served_by_django_insecurely():
    # whitenoise serves them (config/settings.py); no URL of the API does.
    from django.urls import Resolver404, resolve

    with pytest.raises(Resolver404):
        resolve("/static/runs/pages.css")
    # Nothing in api/ asks for `serve(..., insecure=True)` or `runserver --insecure`.
    # Django's prefix for a key made only for development is not a way to serve.
    local = {"staticfiles", ".venv", "__pycache__"}
    for path in API.rglob("*"):
        if local & set(path.relative_to(API).parts) or not path.is_file():
            continue
        if path.suffix in {".py", ".html", ".txt", ".md", ".js", ".css", ""}:
            text = path.read_text(errors="replace").replace("django-insecure-", "")
            assert "insecure" not in text, path
