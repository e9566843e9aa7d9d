"""``make serve``: the API, its worker, Celery beat and Flower together, in the foreground, until Ctrl+C.

Usage::

    make serve                        # the API on http://localhost:8000
    API_PORT=8080 make serve          # on another port

The API serves on 127.0.0.1 only, with anonymous access on
(``API_ALLOW_ANONYMOUS=1``): a single reader on their own machine needs no
user; ``API_ALLOW_ANONYMOUS=0 make serve`` asks for one, as any deployment
does. Each line of output starts with the name of the process that wrote it.
``Served`` runs the same in the background, on free ports, for the browser
tests and ``make screenshots``. They
all use the local broker and result store (``CELERY_BROKER_URL`` and
``CELERY_RESULT_BACKEND`` override them; with
``CELERY_CONFIG_MODULE=sprout.embedded``, the embedded stack, which the API
reaches through its settings module ``sprout.embedded_api``), the API's database is
``DATABASE_URL`` (``api/db.sqlite3`` by default, migrated first), Flower
listens on ``FLOWER_PORT`` (5555) with the user and password of
``FLOWER_BASIC_AUTH`` (``student:sprout`` by default), and beat sends the
repair of stalled steps every ``REPAIR_EVERY`` seconds (60). Ctrl+C stops
them all; so does the end of any one of them.
"""

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from .api import API, ApiServer, api_env
from .paths import REPO
from .processes import (
    celery_executable,
    free_port,
    spawn,
    stop_on_signal,
    terminate,
    wait_until_answers,
)


def relay(name, stream):
    """Copy a child's output to ours, each line behind the child's name."""
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{name:<6} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def start(name, command, env):
    process = spawn(command, cwd=API, env=env, stdout=subprocess.PIPE)
    threading.Thread(target=relay, args=(name, process.stdout), daemon=True).start()
    return process


def main():
    # Ctrl+C, and a plain `kill`, stop everything; even where a shell started
    # this in the background, with Ctrl+C ignored.
    signal.signal(signal.SIGINT, stop_on_signal)
    signal.signal(signal.SIGTERM, stop_on_signal)
    env = api_env()
    env.setdefault("DATABASE_URL", f"sqlite:///{API / 'db.sqlite3'}")
    env.setdefault("FLOWER_BASIC_AUTH", "student:sprout")
    # One reader on their own machine: no user needed. Served on 127.0.0.1 only.
    env.setdefault("API_ALLOW_ANONYMOUS", "1")
    if not env.get("DJANGO_SECRET_KEY"):
        # The API refuses to serve without a key; for a local run, one made now will do.
        env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
        print("serve  | DJANGO_SECRET_KEY is not set: using a random key for this run")
    api_port = int(env.get("API_PORT", "8000"))
    flower_port = int(env.get("FLOWER_PORT", "5555"))
    celery = celery_executable()

    read, write = os.pipe()
    server = ApiServer(env=env, port=api_port, output=write)
    # The tables first: beat reads its schedule from the database.
    server.migrate()
    worker = [celery, "-A", "config", "worker", "-l", "INFO"]
    if env.get("SPROUT_SERVE_NODE"):
        # Two stacks at once on one machine (tests) need two node names: celery@host is one.
        worker.append(f"--hostname={env['SPROUT_SERVE_NODE']}")
    processes = {
        "worker": start("worker", worker, env),
        "beat": start("beat", [celery, "-A", "config", "beat", "-l", "INFO"], env),
        "flower": start(
            "flower",
            [celery, "-A", "config", "flower", "--address=127.0.0.1", f"--port={flower_port}"],
            env,
        ),
    }
    threading.Thread(target=relay, args=("api", os.fdopen(read, "rb")), daemon=True).start()
    try:
        server.start()
        processes["api"] = server.process
        if env["API_ALLOW_ANONYMOUS"].strip().lower() in {"1", "true", "yes", "on"}:
            print(
                f"serve  | anonymous access is on (API_ALLOW_ANONYMOUS=1): the API answers on "
                f"127.0.0.1:{api_port} only, to anyone on this machine, without a user",
                flush=True,
            )
        print(
            f"serve  | the workflows' pages are on http://localhost:{api_port}/workflows/, "
            f"the API's docs on http://localhost:{api_port}/api/docs/, Flower on "
            f"http://localhost:{flower_port}; press Ctrl+C to stop",
            flush=True,
        )
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.2)
        ended = [name for name, process in processes.items() if process.poll() is not None]
        print(f"serve  | {', '.join(ended)} ended: stopping the others", flush=True)
        status = 1
    except KeyboardInterrupt:
        status = 0
    finally:
        # Ctrl+C reached every process of the terminal already; the others are asked now.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in processes.values():
            terminate(process, timeout=30)
        server.stop()
        os.close(write)
    print("serve  | stopped", flush=True)
    return status


class Served:
    """``make serve`` as a child process, on free ports, until ``stop()`` (Ctrl+C, as a reader would).

    ``env`` adds to this process's environment: ``DATABASE_URL``,
    ``TASK_DELAY``, ``CELERY_TASK_DEFAULT_QUEUE``...
    """

    def __init__(self, env=None):
        self.api_port, self.flower_port = free_port(), free_port()
        self.env = {
            **os.environ,
            **(env or {}),
            "API_PORT": str(self.api_port),
            "FLOWER_PORT": str(self.flower_port),
            "SPROUT_SERVE_NODE": f"serve-{self.api_port}@%h",
        }
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.process = None

    def start(self, timeout=60.0):
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open while it runs; stop() closes it
        # A session of its own stands for the terminal: Ctrl+C reaches all of it.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sprout.serve"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_answers(
            self.process, self.answers, name="make serve", timeout=timeout,
            log=self.output, stop=self.stop, interval=0.2,
        )  # fmt: skip
        return self

    def answers(self):
        try:
            with urllib.request.urlopen(f"{self.url}/api/health/", timeout=2):
                return True
        except OSError:
            return False

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, timeout=60.0):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
        self.log.close()


if __name__ == "__main__":
    sys.exit(main())
