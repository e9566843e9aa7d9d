"""Small helpers for the processes the course starts: workers, Flower, the API."""

import ctypes
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def die_with_parent():
    """Ask Linux to stop this child process if the process that started it dies.

    Without this, a worker outlives a kernel or a test run that was killed,
    and goes on taking tasks from its queue. Given as ``preexec_fn``. Linux
    sends the signal when the thread that started the child ends, even if
    the process lives on: start children from a thread that outlives them.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def terminate(process, timeout):
    """Ask a child process to stop (SIGTERM), and kill it if it has not within ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_until_answers(process, answers, *, name, timeout, log=str, stop=None, interval=0.05):
    """Return once ``answers()`` is true: the child ``process`` (``name``) is ready.

    Raises RuntimeError, with ``log()``, if the process exits first, and
    TimeoutError, with ``log()``, once ``timeout`` seconds have passed, after
    calling ``stop()`` to end what did not answer.
    """
    deadline = time.monotonic() + timeout
    while not answers():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}:\n{log()}")
        if time.monotonic() > deadline:
            message = f"{name} did not answer within {timeout:.0f} s:\n{log()}"
            if stop is not None:
                stop()
            raise TimeoutError(message)
        time.sleep(interval)


def stop_on_signal(signum, frame):
    """A signal handler that stops the program as Ctrl+C would (SIGTERM: ``kill``)."""
    raise KeyboardInterrupt


def celery_executable():
    """The ``celery`` command of the environment that runs this process."""
    celery = Path(sys.executable).with_name("celery")
    return str(celery) if celery.exists() else "celery"


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_for_later():
    """A TCP port of 127.0.0.1 that nothing listens on, below the kernel's ephemeral range.

    For a port that another program binds only later, such as the ports that
    Docker publishes once a stack's images are built: ``free_port`` hands out
    ports of the ephemeral range, which any process of the tests may be handed
    meanwhile, and a port that Docker publishes then takes the other's
    connections away (its NAT rule wins). A port below that range is never
    handed out that way.
    """
    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    first = 20000 if low > 21000 else 1024
    for port in random.sample(range(first, low), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port between {first} and {low}")


def spawn(command, *, cwd, env, stdout):
    """Start a child process whose output (and errors) go to ``stdout``, and that dies with us."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
