"""gunicorn's settings for the API.

gunicorn reads this file by itself when it starts in this folder, as the image
does (`gunicorn config.wsgi`); its command line, and GUNICORN_CMD_ARGS, take
precedence over what is set here.
"""

import os

from prometheus_client import multiprocess

# Where it listens: on this machine only unless GUNICORN_BIND says otherwise.
# The image listens on every address of its container (GUNICORN_BIND=0.0.0.0:8000),
# and docker-compose.yml publishes that port on the host's loopback only.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# How many processes serve requests, each one at a time (gunicorn's sync
# workers): WEB_CONCURRENCY, as gunicorn itself and most hosts name it. Two by
# default, so that one slow request (a start that waits for a broker that is
# away, a write that waits for SQLite's lock) does not hold up the pages, which
# ask once a second. Not a count of the CPUs: in a container, Python sees the
# host's, and would start more processes than the container's share can run.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# One line per request, on stdout, where `docker compose logs` and any log
# collector read it; errors go to stderr, gunicorn's default.
accesslog = "-"

# A worker that answers nothing for this long is killed and replaced. The API
# answers within a few seconds even when a service is away (it waits 2 s for
# the broker or the result store), and a writer waits up to 20 s for SQLite's
# lock (config/settings.py): 30 s leaves room for both, and no more.
timeout = 30
# On SIGTERM, the requests under way get this long to finish. Docker kills a
# container 10 s after it asked it to stop: 8 s lets them end before that.
graceful_timeout = 8

# Each worker tells the master it is alive by touching a file. On a container's
# disk-backed file system that can stall a worker; /dev/shm is memory, where
# there is one.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# The old tutorial's GET sends its task ids in the query string: a hundred of
# them (the most one request may ask for) take about 4,700 characters, more
# than gunicorn's default request line of 4,094. 8,190 is the most gunicorn
# allows; a longer URL answers 414, as the API's schema says.
limit_request_line = 8190

# Metrics (api/README.md, "Metrics"): with PROMETHEUS_MULTIPROC_DIR, each
# process writes what it counts into a file of its own there, and /metrics adds
# up the files of all of them, whichever process answers. The master empties
# the directory before it starts any, so that a run's counts are its own.


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


# A process that exits (killed at its timeout, or replaced) takes its live
# gauges with it; what its counters counted stays in the sums.
def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
