"""A RabbitMQ node, a Redis server and a PostgreSQL server of a test's own, to kill, restart and wipe.

Fault tests break only what they started: the RabbitMQ, Redis and
PostgreSQL that every other test uses are never stopped. ``PrivateRabbitMQ``
runs a node of its own, on free ports of 127.0.0.1, with its own name, data
folder, logs and Erlang cookie and no plugins (so that it takes no
management port); it starts in about eight seconds, and ``restart()`` brings
it back on the same data, so that durable queues and their persistent
messages survive, as after a crash. ``PrivateRedis`` runs ``redis-server``
with nothing kept on disk: restarted, it comes back empty.
``PrivatePostgres`` runs a PostgreSQL server on a data folder of its own,
made with ``initdb``; killed and started again, it recovers its data from
its write-ahead log, as after a crash.

Each server runs in a process group of its own and dies with the process
that started it; ``kill()`` SIGKILLs the group, then any process of the
server that left it (RabbitMQ's ``erl_child_setup``). Erlang's port mapper,
``epmd``, which every node on this machine shares, is left alone.
"""

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psutil
import psycopg
import redis
from kombu import Connection

from sprout.processes import die_with_parent, free_port, wait_until_answers


class PrivateServer:
    """A server started in a process group of its own, with a folder of its own."""

    name = "server"
    #: The user the server runs as, when this process runs as root (None: root itself).
    user = None

    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix=f"private-{self.name}-"))
        self.process = None
        self.log_path = self.folder / "server.log"
        atexit.register(self.stop)

    def as_user(self):
        """The uid and gid to run as: ``user``'s when this process runs as root; else None."""
        if self.user is None or os.geteuid() != 0:
            return None
        owner = pwd.getpwnam(self.user)
        return owner.pw_uid, owner.pw_gid

    def give_folder_to_user(self):
        """Make the server's folder its user's, so that it may write there."""
        ids = self.as_user()
        if ids is not None:
            for path in [self.folder, *self.folder.rglob("*")]:
                os.chown(path, *ids)

    def preexec(self):
        """In the child, before the server starts: die with us, and drop root for ``user``."""
        die_with_parent()
        ids = self.as_user()
        if ids is not None:
            uid, gid = ids
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    def command(self):
        raise NotImplementedError

    def environment(self):
        return dict(os.environ)

    def answers(self):
        """Whether the server takes requests now."""
        raise NotImplementedError

    def start(self, timeout=60):
        """Start the server and return once it takes requests."""
        return self.launch().wait_until_ready(timeout)

    def launch(self):
        """Start the server's process, and return at once (``wait_until_ready`` waits for it).

        The server stops when the thread that started it ends (Linux's parent
        death signal belongs to that thread): start it from a thread that
        outlives it, the test's own.
        """
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.folder,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self.preexec,
            )
        return self

    def wait_until_ready(self, timeout=60):
        """Return once the launched server takes requests."""
        wait_until_answers(
            self.process, self.answers, name=self.name, timeout=timeout,
            log=self.log, stop=self.kill, interval=0.1,
        )  # fmt: skip
        return self

    def processes(self):
        """Every process of this server: its group, and those that left it."""
        if self.process is None:
            return []
        found = []
        for process in psutil.process_iter(["cmdline"]):
            try:
                in_group = os.getpgid(process.pid) == self.process.pid
            except ProcessLookupError:
                continue
            cmdline = " ".join(process.info["cmdline"] or [])
            if in_group or str(self.folder) in cmdline or self.marker() in cmdline:
                found.append(process)
        # A child that started a session of its own is still a child.
        for process in list(found):
            try:
                found.extend(
                    child for child in process.children(recursive=True) if child not in found
                )
            except psutil.NoSuchProcess:
                continue
        return found

    def marker(self):
        """A word found in the command line of each of the server's processes."""
        return str(self.folder)

    def kill(self):
        """SIGKILL every process of the server, as a crash would, and wait until they are gone."""
        if self.process is None:
            return
        processes = self.processes()
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        psutil.wait_procs(processes, timeout=10)
        self.process = None

    def restart(self):
        """Kill the server and start it again, on the same port and the same folder."""
        self.kill()
        return self.start()

    def stop(self):
        """Kill the server and remove its folder; safe to call more than once."""
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
        atexit.unregister(self.stop)

    def log(self, lines=40):
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class PrivateRabbitMQ(PrivateServer):
    """A RabbitMQ node of a test's own: ``url`` reaches it, ``kill()`` and ``start()`` break it."""

    name = "rabbitmq"

    def __init__(self):
        super().__init__()
        self.dist_port = free_port()
        self.node = f"fault{self.port}@localhost"
        home = self.folder / "home"
        home.mkdir()
        # A cookie of its own: the node shares no secret with the machine's own node.
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (self.folder / "enabled_plugins").write_text("[].\n")
        # Started as root, rabbitmq-server runs as the rabbitmq user: its folder is that user's.
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError):
                owner = pwd.getpwnam("rabbitmq")
                for path in [self.folder, *self.folder.rglob("*")]:
                    os.chown(path, owner.pw_uid, owner.pw_gid)

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def command(self):
        return ["rabbitmq-server"]

    def marker(self):
        return self.node

    def environment(self):
        return {
            **os.environ,
            "HOME": str(self.folder / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            # Neither the machine's configuration nor its environment file applies.
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.folder / "rabbitmq.pid"),
        }

    def answers(self):
        try:
            with Connection(self.url, connect_timeout=1) as connection:
                connection.ensure_connection(max_retries=1, timeout=1)
            return True
        except Exception:
            return False


class PrivateRedis(PrivateServer):
    """A Redis server of a test's own that keeps nothing on disk: restarted, it is empty."""

    name = "redis"

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self):
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.folder),
        ]  # fmt: skip

    def client(self):
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def answers(self):
        try:
            with self.client() as client:
                return client.ping()
        except redis.exceptions.RedisError:
            return False

    def wipe(self):
        """Delete every key, as if every result had expired."""
        with self.client() as client:
            client.flushall()


def postgres_program(name):
    """The path of a program of PostgreSQL's server (``postgres``, ``initdb``), of its newest version.

    Debian keeps them out of the PATH, in ``/usr/lib/postgresql/<version>/bin``.
    """
    found = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    if found:
        return max(found, key=lambda path: int(Path(path).parent.parent.name))
    return shutil.which(name) or name


class PrivatePostgres(PrivateServer):
    """A PostgreSQL server of a test's own: ``url`` reaches its database, ``kill()`` and ``start()`` break it.

    PostgreSQL refuses to run as root: started by root, it runs as the
    ``postgres`` user, which owns its folder. Its one user, ``postgres``, needs
    no password, and it listens on 127.0.0.1 and on a socket in its folder.
    """

    name = "postgres"
    user = "postgres"

    def __init__(self):
        super().__init__()
        self.data = self.folder / "data"
        self.give_folder_to_user()
        with open(self.log_path, "ab") as log:
            subprocess.run(
                [postgres_program("initdb"), "--pgdata", str(self.data), "--username", "postgres",
                 "--auth", "trust", "--encoding", "UTF8", "--no-sync"],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, check=True,
                preexec_fn=self.preexec, timeout=60,
            )  # fmt: skip

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def command(self):
        return [
            postgres_program("postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
        ]  # fmt: skip

    def answers(self):
        try:
            with psycopg.connect(self.url, connect_timeout=1) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False
