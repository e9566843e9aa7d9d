"""A Celery worker's metrics for Prometheus (``runs/metrics.py`` says what is counted).

A worker runs its steps in pool processes, each of which counts what it
ran. With ``PROMETHEUS_MULTIPROC_DIR`` set, each writes its counts into a
file of its own in that directory, and the worker's main process adds them
all up each time Prometheus asks. The directory belongs to one service: the
worker empties it when it starts, so that counts of its last run are not
added to this one's (Prometheus knows a counter that starts again from 0).

The main process serves them on ``METRICS_PORT`` (nothing is served unless
it is set), on ``METRICS_ADDRESS``: ``celery -A config worker`` with
``METRICS_PORT=9808`` answers ``http://127.0.0.1:9808/metrics``. The port has
no password: it listens on this machine only unless ``METRICS_ADDRESS`` says
otherwise, and the compose stack does not publish it.
"""

import glob
import os

from celery.signals import worker_init, worker_process_shutdown, worker_ready
from celery.utils.log import get_logger
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

# Celery's logger, which the worker's log shows.
logger = get_logger(__name__)


@worker_init.connect
def empty_directory(**kwargs):
    """Create ``PROMETHEUS_MULTIPROC_DIR`` if need be, and empty it of the counts of a run before.

    ``worker_init`` comes in the worker's main process, before its pool
    processes start: none of them has counted anything yet. (gunicorn.conf.py
    does the same for the API, in gunicorn's master.)
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    # prometheus_client's files only: the directory holds nothing else.
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


@worker_ready.connect
def serve_metrics(**kwargs):
    """Serve the metrics on METRICS_PORT, from the main process, once the worker is ready.

    Its pool processes have started by then: none of them holds the port open.
    """
    if not settings.METRICS_PORT:
        return
    address, port = settings.METRICS_ADDRESS, settings.METRICS_PORT
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        # One process counts everything only with --pool=solo or threads.
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: the metrics show what this "
            "process counted, and nothing of its pool processes"
        )
        registry = REGISTRY
    try:
        start_http_server(port, address, registry)
    except OSError as exc:
        # The steps matter more than their counts: the worker runs without.
        logger.error("cannot serve the metrics on %s:%s: %s", address, port, exc)
        return
    logger.info("metrics on http://%s:%s/metrics", address, port)


@worker_process_shutdown.connect
def forget_process(pid=None, **kwargs):
    """A pool process that exits takes its live gauges with it (``multiprocess_mode="live..."``).

    Its counters stay in the directory, and in the sums: what it counted happened.
    """
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
