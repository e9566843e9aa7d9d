"""Start and stop one day's Celery worker, the way you would in a terminal.

``DayWorker("day1").start()`` runs ``celery -A taskrunner worker -l INFO`` as
a child process in ``day1/`` and returns once the worker answers a ping, so
that a notebook or a test needs no second terminal. ``worker.command_line``
is what it runs, as you would type it (on one line)::

    CELERY_CONFIG_MODULE=sprout.queue_settings CELERY_TASK_DEFAULT_QUEUE=day1
    celery -A taskrunner worker -l INFO -Q day1 --hostname=day1-1a2b3c4d@host
    --concurrency=2 --without-mingle --without-gossip

The README's command, and Celery's own options: ``-Q`` gives the worker a
queue named after the day, and ``sprout/queue_settings.py`` makes it send
there too what it sends itself (see that module). ``stop()`` asks for a warm
shutdown (SIGTERM to the worker's main process, which lets running tasks
finish and then stops its pool) and waits for it; ``kill()`` is a lost machine.
"""

import atexit
import os
import shlex
import signal
import socket
import tempfile
import uuid
from pathlib import Path

from celery import Celery
from kombu.exceptions import OperationalError

from .api import api_env
from .paths import REPO
from .processes import celery_executable, spawn, terminate, wait_until_answers
from .services import broker_connection, broker_url, settings_module

DEFAULT_QUEUE = "celery"
# The API's Celery app, which takes Django's settings rather than CELERY_CONFIG_MODULE.
API_APP = "config"

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


#: The variables that name the API's queues, in config/settings.py.
API_QUEUE_VARIABLES = ("CELERY_TASK_DEFAULT_QUEUE", "NOTIFICATIONS_QUEUE", "MAINTENANCE_QUEUE")


def api_queues(queue):
    """The API's three queues for a worker whose steps travel on ``queue``: steps, notifications,
    maintenance."""
    return [queue, f"{queue}.notifications", f"{queue}.maintenance"]


def queue_env(queue, app="taskrunner"):
    """The environment that puts a worker of ``app``, or a client of it, on ``queue``.

    Nothing on Celery's default queue. Elsewhere, ``task_default_queue``
    from ``CELERY_TASK_DEFAULT_QUEUE``: the API's Django settings read that
    variable themselves, and a day's app, which takes no settings object,
    reads it through the settings module that ``CELERY_CONFIG_MODULE`` names,
    as Celery does for any such app.
    """
    if queue == DEFAULT_QUEUE:
        return {}
    if app == API_APP:
        # The API's settings read the names of its three queues (steps,
        # notifications, maintenance) from these variables.
        return dict(zip(API_QUEUE_VARIABLES, api_queues(queue), strict=True))
    return {"CELERY_CONFIG_MODULE": "sprout.queue_settings", "CELERY_TASK_DEFAULT_QUEUE": queue}


class DayWorker:
    """One day's worker, started as a child process.

    day: the day's folder name (``"day1"``); ``folder`` points at a copy of it.
    cwd: where the worker starts; the day's folder unless told otherwise (with
        ``cwd`` elsewhere, put the folder on ``PYTHONPATH`` through ``env``).
    queue: the queue the worker reads and sends to, named after the day unless
        told otherwise (``"celery"``, Celery's default, needs no setting). A
        client in this process sends its tasks there with
        ``app.conf.task_default_queue = worker.queue``; a client in a process
        of its own, with ``queue_env(worker.queue)`` in its environment. The
        worker of another day, reading another queue, never receives them.
    env: extra environment variables for the worker (``TASK_DELAY`` ...); a
        ``CELERY_BROKER_URL`` there is also where the worker is pinged.
    app: what ``celery -A`` is given: ``taskrunner`` for a day, ``config`` for
        the API (whose processes take the Django settings of the course's
        stack, ``sprout.api.api_env``).
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

    @property
    def command(self):
        """The README's command, plus Celery's own options: its queue, its name, quick to start.

        On a queue of its own, the worker reads it (``-Q``), and ``queue_env``
        makes it send there too; ``--hostname`` gives it a name of its own to
        be pinged by. One worker at a time has nobody to sync with: it skips
        the wait for the others (``--without-mingle --without-gossip``).
        """
        command = ["celery", "-A", self.app, "worker", "-l", "INFO"]
        if self.documented:
            return [*command, *self.options]
        return [
            *command, "-Q", ",".join(self.queues),
            f"--hostname={self.node}",
            f"--concurrency={self.concurrency}",
            "--without-mingle", "--without-gossip",
            *self.options,
        ]  # fmt: skip

    @property
    def environment(self):
        """What the worker's environment holds beyond the terminal's: its queue (``queue_env``)."""
        return {} if self.documented else queue_env(self.queue, self.app)

    @property
    def command_line(self):
        """The worker's command as you would type it in a terminal, its queue's variables first."""
        assignments = [f"{name}={shlex.quote(value)}" for name, value in self.environment.items()]
        return " ".join([*assignments, shlex.join(self.command)])

    def start(self, timeout=60.0):
        """Start the worker and return once it answers a ping."""
        if self.running:
            return self
        return self.launch().wait_until_ready(timeout)

    def launch(self):
        """Start the worker's process and return at once (``wait_until_ready`` waits for it)."""
        # Importing the settings module that CELERY_CONFIG_MODULE names exports
        # the embedded stack's URLs, which the worker's settings look for.
        settings_module()
        env = {**os.environ, **self.environment, **self.env}
        if self.app == API_APP:
            env = api_env(env)
        fd, log_path = tempfile.mkstemp(prefix=f"{self.day}-worker-", suffix=".log")
        self.log_path = Path(log_path)
        with os.fdopen(fd, "wb") as log:
            command = [celery_executable(), *self.command[1:]]
            self.process = spawn(command, cwd=self.cwd, env=env, stdout=log)
        atexit.register(self.stop)
        return self

    def wait_until_ready(self, timeout=60.0):
        """Return once the launched worker answers a ping."""
        wait_until_answers(
            self.process, self.answers, name=f"the {self.day} worker", timeout=timeout,
            log=self.log, stop=self.stop,
        )  # fmt: skip
        return self

    def kill(self):
        """SIGKILL the worker and its pool processes at once, as a machine that loses power would.

        Nothing of it runs on: no task finishes, no message is acknowledged or
        given back. The broker notices the lost connection and hands the
        worker's unacknowledged messages to the next worker. Returns the exit
        code, -9.
        """
        import psutil  # The course's tests and notebooks install it; make demo does not kill.

        pool = psutil.Process(self.process.pid).children(recursive=True)
        self.process.kill()
        for process in pool:
            process.send_signal(signal.SIGKILL)
        # The main process is ours to collect; its pool processes are not.
        self.process.wait(timeout=10)
        psutil.wait_procs(pool, timeout=10)
        return self.process.returncode

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

    @property
    def queues(self):
        """The queues the worker reads: its queue, and the API's worker the API's other two."""
        return api_queues(self.queue) if self.app == API_APP else [self.queue]

    def delete_queue(self):
        """Remove the worker's queues from the broker (for queues made for one test)."""
        with broker_connection() as connection:
            for queue in self.queues:
                try:
                    connection.default_channel.queue_delete(queue)
                except connection.channel_errors:
                    # Already gone, or never made: nothing to remove; the
                    # channel closed with the error, so take a new one.
                    connection.close()
                    connection.connect()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        state = "running" if self.running else "stopped"
        return f"<DayWorker {self.day} {state}>"
