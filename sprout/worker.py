"""Start and stop one day's Celery worker, the way you would in a terminal.

``DayWorker("day1").start()`` runs the worker of ``celery -A taskrunner worker
-l INFO`` as a child process in ``day1/`` and returns once it answers a ping,
so that a notebook or a test needs no second terminal. The worker reads a
queue named after the day (see ``run_worker``). ``stop()`` asks for a warm
shutdown (SIGTERM to the worker's main process, which lets running tasks
finish and then stops its pool) and waits for it.
"""

import atexit
import os
import socket
import sys
import tempfile
import uuid
from pathlib import Path

from celery import Celery
from kombu.exceptions import OperationalError

from .paths import REPO
from .processes import celery_executable, spawn, terminate, wait_until_answers
from .services import broker_connection, broker_url

DEFAULT_QUEUE = "celery"

# Ping needs only the broker, so one small app per broker serves every day.
_control_apps = {}


def control_app(url=None):
    """A Celery app that sends remote-control commands (ping, inspect) to the broker at ``url``."""
    url = url or broker_url()
    if url not in _control_apps:
        _control_apps[url] = Celery("sprout-control", set_as_current=False)
        _control_apps[url].conf.broker_url = url
    return _control_apps[url]


def forget_control_app(url=None):
    """Close the control app of ``url``: the next ``control_app(url)`` connects afresh."""
    app = _control_apps.pop(url or broker_url(), None)
    if app is not None:
        app.close()


class DayWorker:
    """One day's worker, started as a child process.

    day: the day's folder name (``"day1"``); ``folder`` points at a copy of it.
    cwd: where the worker starts; the day's folder unless told otherwise (with
        ``cwd`` elsewhere, put the folder on ``PYTHONPATH`` through ``env``).
    queue: the queue the worker reads and sends to, named after the day unless
        told otherwise (``"celery"``, Celery's default, runs the README's command
        as it is). A client sends its tasks there with
        ``app.conf.task_default_queue = worker.queue``, and the worker of
        another day, reading another queue, never receives them.
    env: extra environment variables for the worker (``TASK_DELAY`` ...); a
        ``CELERY_BROKER_URL`` there is also where the worker is pinged.
    app: what ``celery -A`` is given: ``taskrunner`` for a day.
    options: more options of ``celery worker`` (``["--include", "module"]``).
    documented: run the README's command, ``celery -A APP worker -l INFO``,
        and ``options``, on the queue the app's settings name, with Celery's
        own number of processes and its node name (``celery@`` the host, unless
        the options give one with ``--hostname``: a second worker on one host
        needs a name of its own); ``folder`` and ``env`` apply, the other
        arguments do not.
    """

    def __init__(
        self,
        day,
        *,
        folder=None,
        cwd=None,
        queue=None,
        env=None,
        concurrency=2,
        app="taskrunner",
        options=(),
        documented=False,
    ):
        self.day = day
        self.app = app
        self.folder = Path(folder) if folder else REPO / day
        self.cwd = Path(cwd) if cwd else self.folder
        self.queue = queue or day
        self.env = dict(env or {})
        self.concurrency = concurrency
        self.options = list(options)
        self.documented = documented
        self.node = f"{day}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        if documented:
            named = [option for option in self.options if option.startswith("--hostname=")]
            node = named[-1].partition("=")[2] if named else "celery@%h"
            self.node = node.replace("%h", socket.gethostname())
        self.process = None
        self.log_path = None
        self._log_text = ""

    @property
    def control(self):
        """Celery's remote control, through the broker this worker uses."""
        return control_app(self.env.get("CELERY_BROKER_URL")).control

    def command(self):
        """The README's command, plus what makes the worker quick to start and easy to find.

        On Celery's default queue, ``celery`` itself runs the worker. On a
        queue of its own, ``run_worker`` also makes it send the tasks it starts
        itself (the next step of a chain) to that queue.
        """
        if self.documented:
            return [celery_executable(), "-A", self.app, "worker", "-l", "INFO", *self.options]
        if self.queue == DEFAULT_QUEUE:
            start = [celery_executable(), "-A", self.app]
        else:
            start = [sys.executable, "-m", "sprout.run_worker", self.queue, self.app]
        return [
            *start, "worker", "-l", "INFO",
            f"--hostname={self.node}",
            f"--queues={self.queue}",
            f"--concurrency={self.concurrency}",
            # One worker at a time has nobody to sync with: skip the wait.
            "--without-mingle", "--without-gossip",
            *self.options,
        ]  # fmt: skip

    def start(self, timeout=60.0):
        """Start the worker and return once it answers a ping."""
        if self.running:
            return self
        return self.launch().wait_until_ready(timeout)

    def launch(self):
        """Start the worker's process and return at once (``wait_until_ready`` waits for it)."""
        env = {**os.environ, **self.env}
        fd, log_path = tempfile.mkstemp(prefix=f"{self.day}-worker-", suffix=".log")
        self.log_path = Path(log_path)
        with os.fdopen(fd, "wb") as log:
            self.process = spawn(self.command(), cwd=self.cwd, env=env, stdout=log)
        atexit.register(self.stop)
        return self

    def wait_until_ready(self, timeout=60.0):
        """Return once the launched worker answers a ping."""
        wait_until_answers(
            self.process, self.answers, name=f"the {self.day} worker", timeout=timeout,
            log=self.log, stop=self.stop,
        )  # fmt: skip
        return self

    def answers(self):
        """True when the worker answers a ping."""
        try:
            return bool(self.control.ping(destination=[self.node], timeout=0.5))
        except (OSError, OperationalError):
            # The broker restarted since the last ping (a fault test did it):
            # the next ping opens a new connection.
            forget_control_app(self.env.get("CELERY_BROKER_URL"))
            return False

    def wake(self):
        """Send the worker a message that needs no answer, so that it notices a signal now.

        A worker waiting for messages sleeps in its event loop for up to two
        seconds at a time, and checks whether it was told to stop only when it
        wakes; a message wakes it at once.
        """
        control = self.control
        try:
            # One try: a broker that is away (a fault test stopped it) has nobody to wake.
            with control.app.connection_for_write(connect_timeout=1) as connection:
                connection.ensure_connection(max_retries=0)
                control.broadcast(
                    "ping", destination=[self.node], reply=False, connection=connection
                )
        except (OSError, OperationalError):
            pass

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=30.0, wait=True):
        """Warm shutdown: running tasks finish, then the worker exits. Returns its exit code.

        With ``wait=False``, only ask: the worker stops reading its queue at
        once and finishes on its own (its pool takes a second or two), and
        nothing waits for it, not even the end of this process; what it has
        logged so far stays readable.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            # SIGTERM to the main process only: it stops its own pool processes.
            self.process.terminate()
            self.wake()
        if wait:
            terminate(self.process, timeout)
        atexit.unregister(self.stop)
        if self.log_path is not None:
            # Keep the log readable after the stop, and leave no file behind.
            self._log_text = self.log()
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
        return self.process.returncode

    def log(self):
        """Everything the worker has logged so far."""
        if self.log_path is None:
            return self._log_text
        return self.log_path.read_text(errors="replace")

    def purge(self):
        """Drop the messages waiting in the worker's queue (tasks left by an earlier run)."""
        with broker_connection() as connection:
            channel = connection.default_channel
            try:
                return channel.queue_purge(self.queue) or 0
            except connection.channel_errors:
                return 0  # The queue does not exist yet: nothing to drop.

    def delete_queue(self):
        """Remove the worker's queue from the broker (for queues made for one test)."""
        with broker_connection() as connection:
            try:
                connection.default_channel.queue_delete(self.queue)
            except connection.channel_errors:
                return  # Already gone: nothing to remove.

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        state = "running" if self.running else "stopped"
        return f"<DayWorker {self.day} {state}>"
