"""Start and stop Flower, Celery's web monitor, for one day's app.

``Flower("day6").start()`` runs ``celery -A taskrunner flower`` in the day's
folder, on a free local port, with the password that Flower 2 needs before
it answers its REST API, and returns once Flower answers. ``task_info``
asks that API what Flower knows of one task, as
``curl -u student:sprout http://localhost:5555/api/task/info/<task id>`` would.
"""

import atexit
import base64
import json
import os
import tempfile
import urllib.request
from pathlib import Path

from .paths import REPO
from .processes import celery_executable, free_port, spawn, terminate, wait_until_answers


class Flower:
    """Flower for one day's app, as a child process."""

    def __init__(self, day, *, folder=None, user="student", password="sprout", port=None):
        self.day = day
        self.folder = Path(folder) if folder else REPO / day
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, timeout=60.0):
        command = [
            celery_executable(), "-A", "taskrunner", "flower",
            "--address=127.0.0.1", f"--port={self.port}",
        ]  # fmt: skip
        env = {**os.environ, "FLOWER_BASIC_AUTH": f"{self.user}:{self.password}"}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open while Flower runs; stop() closes it
        self.process = spawn(command, cwd=self.folder, env=env, stdout=self.log)
        atexit.register(self.stop)
        wait_until_answers(
            self.process, self.answers, name="Flower", timeout=timeout,
            log=self.output, stop=self.stop, interval=0.2,
        )  # fmt: skip
        return self

    def answers(self):
        try:
            with urllib.request.urlopen(f"{self.url}/healthcheck", timeout=1):
                return True
        except OSError:
            return False

    def task_info(self, task_id):
        """What Flower knows of one task, from its REST API: Flower 2 wants the password."""
        request = urllib.request.Request(f"{self.url}/api/task/info/{task_id}")
        credentials = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {credentials}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def output(self):
        """What Flower has printed so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, timeout=20.0):
        if self.process is None:
            return None
        terminate(self.process, timeout)
        self.log.close()
        atexit.unregister(self.stop)
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"<Flower {self.day} {state}>"
