"""Serve the workflows API (api/) with gunicorn, as in production, and run its Celery beat.

``ApiServer().start()`` migrates a database and serves the API on a port of
127.0.0.1, DEBUG off, until ``stop()``. Tests and the API's notebook give it
a SQLite file of its own; ``make serve`` gives it the real settings.
``request`` sends it one request and times the answer. ``Beat(env).start()``
runs ``celery -A config beat -l INFO`` in api/, as the API's README says,
until ``stop()``.
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
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(self.folder.name) / 'db.sqlite3'}",
            "DJANGO_SECRET_KEY": os.urandom(32).hex(),
            "DJANGO_DEBUG": "0",
            "API_ALLOW_ANONYMOUS": "1",
            **(env or {}),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.output = output
        self.process = None
        self.log_path = Path(self.folder.name) / "gunicorn.log"

    @property
    def database_url(self):
        """The API's database: its worker must write the steps there too."""
        return self.env["DATABASE_URL"]

    def start(self, timeout=30):
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=API,
            env=self.env,
            check=True,
            timeout=timeout,
        )
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
    """Celery beat for the API's app, which sends its periodic tasks (the repair of stalled steps).

    env: on top of this process's environment, as for ``ApiServer``: the
    broker's URL, ``REPAIR_EVERY``...
    """

    def __init__(self, env=None):
        self.env = {**os.environ, **(env or {})}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.folder = tempfile.TemporaryDirectory(prefix="api-beat-")
        self.log_path = Path(self.folder.name) / "beat.log"
        self.process = None
        self._log_text = ""

    def start(self, timeout=30):
        with open(self.log_path, "wb") as log:
            command = [celery_executable(), "-A", "config", "beat", "-l", "INFO"]
            self.process = spawn(command, cwd=API, env=self.env, stdout=log)
        wait_until_answers(
            self.process, lambda: "beat: Starting..." in self.log(), name="celery beat",
            timeout=timeout, log=self.log, stop=self.stop,
        )  # fmt: skip
        return self

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
