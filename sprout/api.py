"""Serve the workflows API (api/) with gunicorn, as in production, on the course's stack.

``ApiServer().start()`` migrates a database and serves the API on a port of
127.0.0.1, DEBUG off, until ``stop()``. Tests and the API's notebook give it
a SQLite file of its own; ``make serve`` gives it the real settings.
``request`` sends it one request and times the answer.

``api_env`` is the environment of every process of the API that the course
starts (its server, its worker, beat, Flower, ``manage.py``): on the
embedded stack, it names the API's settings for that stack,
``sprout.embedded_api``. The API itself knows nothing of the course: it is
told from outside, as a deployment names its own settings module.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .paths import API
from .processes import celery_executable, free_port, spawn, terminate, wait_until_answers
from .services import settings_module

# The states in which a workflow has finished, for those that wait for one.
FINISHED = {"SUCCESS", "FAILURE", "REVOKED"}


def api_env(env=None):
    """This process's environment, and ``env`` on top, for a process of the API.

    The API takes its Celery settings from Django's settings (``CELERY_`` and
    the setting's name), never from ``CELERY_CONFIG_MODULE``. On the embedded
    stack, whose broker's URL ``sprout.embedded`` puts in
    ``CELERY_BROKER_URL``, its Django settings are ``sprout.embedded_api``:
    the API's own, and the embedded stack's broker and result store. On
    RabbitMQ and Redis, they are the API's own, ``config.settings``.
    """
    # Importing the module that CELERY_CONFIG_MODULE names exports the embedded stack's URLs.
    settings_module()
    env = {**os.environ, **(env or {})}
    on_files = env.get("CELERY_BROKER_URL", "").startswith("filesystem:")
    env["DJANGO_SETTINGS_MODULE"] = "sprout.embedded_api" if on_files else "config.settings"
    return env


class ApiServer:
    """The API served by gunicorn on 127.0.0.1.

    port: a free port unless given. env: on top of this process's environment
    (``{"CELERY_BROKER_URL": ...}`` points it at another broker). Unless
    ``env`` names a ``DATABASE_URL``, the API gets a SQLite file of its own,
    and unless it names a ``DJANGO_SECRET_KEY``, a key made for this server.
    Anonymous access is on (``API_ALLOW_ANONYMOUS=1``), for one reader on
    this machine, unless ``env`` sets ``API_ALLOW_ANONYMOUS`` to ``""``.
    """

    def __init__(self, env=None, port=None, output=None):
        self.folder = tempfile.TemporaryDirectory(prefix="api-server-")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = api_env(
            {
                "DATABASE_URL": f"sqlite:///{Path(self.folder.name) / 'db.sqlite3'}",
                "DJANGO_SECRET_KEY": os.urandom(32).hex(),
                "DJANGO_DEBUG": "0",
                "API_ALLOW_ANONYMOUS": "1",
                # One process serves one reader, and starts in half the time of
                # gunicorn.conf.py's two.
                "WEB_CONCURRENCY": "1",
                # Its users' counts of starts (API_START_RATE) in the shared
                # Redis, apart from another server's users of the same id.
                "API_CACHE_PREFIX": f"api-{Path(self.folder.name).name}",
                **(env or {}),
            }
        )
        self.output = output
        self.process = None
        self.log_path = Path(self.folder.name) / "gunicorn.log"

    @property
    def database_url(self):
        """The API's database: its worker must write the steps there too."""
        return self.env["DATABASE_URL"]

    def migrate(self, timeout=30):
        """``python manage.py migrate``: the API's tables, and Celery beat's (django-celery-beat)."""
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=API,
            env=self.env,
            check=True,
            timeout=timeout,
        )

    def start(self, timeout=30):
        self.migrate(timeout)
        with open(self.log_path, "wb") as log:
            command = [sys.executable, "-m", "gunicorn", "config.wsgi"]
            command += ["--bind", f"127.0.0.1:{self.port}"]
            self.process = spawn(command, cwd=API, env=self.env, stdout=self.output or log)
        wait_until_answers(
            self.process, self.answers, name="gunicorn", timeout=timeout,
            log=self.log, stop=self.stop,
        )  # fmt: skip
        return self

    def answers(self):
        """True when the server answers a request, even with an error."""
        try:
            urllib.request.urlopen(f"{self.url}/api/testcases/", timeout=1).close()
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def stop(self, timeout=10):
        if self.process is not None:
            terminate(self.process, timeout)
        self.folder.cleanup()
        return None if self.process is None else self.process.returncode

    def request(self, method, path, data=None, content_type="application/json"):
        """Send a request to the server: its status, its JSON answer and how long it took.

        ``data``: the body, as text; a dict or a list is sent as JSON.
        """
        if isinstance(data, dict | list):
            data, content_type = json.dumps(data), "application/json"
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if data is None else data.encode(),
            headers={} if data is None else {"Content-Type": content_type},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, json.load(response)
        except urllib.error.HTTPError as error:
            status, answer = error.code, json.load(error)
        return status, answer, time.monotonic() - started

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class Beat:
    """Celery beat for the API's app, started as in api/README.md: ``celery -A config beat -l INFO``.

    It sends the API's periodic tasks (the repair of stalled steps, the
    retention) and its users' schedules, which it reads from the API's
    database: start it once that has its tables (``ApiServer.start``).
    env: on top of this process's environment, as for ``ApiServer``: the
    broker's URL, ``DATABASE_URL``, ``REPAIR_EVERY``...
    """

    def __init__(self, env=None):
        self.env = api_env(env)
        self.folder = tempfile.TemporaryDirectory(prefix="api-beat-")
        self.log_path = Path(self.folder.name) / "beat.log"
        self.process = None
        self._log_text = ""

    def start(self, timeout=30):
        """Start beat, and return once it has started sending."""
        self.launch()
        wait_until_answers(
            self.process, lambda: "beat: Starting..." in self.log(), name="celery beat",
            timeout=timeout, log=self.log, stop=self.stop,
        )  # fmt: skip
        return self

    def launch(self):
        """Start beat and return at once; a beat started again logs after what it logged before."""
        with open(self.log_path, "ab") as log:
            command = [celery_executable(), "-A", "config", "beat", "-l", "INFO"]
            self.process = spawn(command, cwd=API, env=self.env, stdout=log)
        return self

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=10):
        if self.process is not None:
            terminate(self.process, timeout)
        # What it logged stays readable once its folder is gone.
        self._log_text = self.log()
        self.folder.cleanup()
        return None if self.process is None else self.process.returncode

    def log(self):
        if self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return self._log_text

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
