"""Celery settings for a worker on a queue of its own, and for the clients that send to it.

In a day's folder, on one line::

    CELERY_CONFIG_MODULE=sprout.queue_settings CELERY_TASK_DEFAULT_QUEUE=day4
    celery -A taskrunner worker -l INFO -Q day4

Celery reads the module that ``CELERY_CONFIG_MODULE`` names as the settings
of every app that is given none of its own: every day's app, unchanged, and
day 5's bare client app. ``-Q day4`` makes the worker read the queue
``day4``; ``task_default_queue`` makes it send there too what it sends itself
(the next step of a chain, a chord's last step), which would otherwise go to
Celery's default queue, ``celery``, where another day's worker may listen.
A client started with the same two variables sends its tasks there as well.
Celery makes the queue on the broker when it is first used
(``task_create_missing_queues``, on by default). The API's Django settings
read ``CELERY_TASK_DEFAULT_QUEUE`` themselves.

``DayWorker``, ``make demo`` and the tests put workers and clients on queues
of their own this way (``sprout.worker.queue_env``), so that a worker left
running for another lesson never takes their tasks.
"""

import os

if os.environ.get("CELERY_BROKER_URL", "").startswith("filesystem:"):
    # The course runs on the embedded stack: sprout.embedded, imported by the
    # process that started this one, put its broker's URL in the environment.
    # Its transport and its folders are settings, which come from there.
    from .embedded import (  # noqa: F401 (settings that Celery reads from here)
        broker_transport,
        broker_transport_options,
        broker_url,
        result_backend,
        result_chord_retry_interval,
        worker_lost_wait,
    )

task_default_queue = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
