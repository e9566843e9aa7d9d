"""Celery settings for ``make demo``: every app of the course on the demo's queues.

The demo runs each day's commands as the day's README gives them, with
``CELERY_CONFIG_MODULE=sprout.demo_settings`` in their environment. Celery
reads the module that variable names as the settings of every app that takes
no settings object of its own: a day's ``taskrunner`` app, day 5's bare
client app, and (through ``config/celery.py``) the API's. So a day's worker
reads, and its clients send to, the queue ``SPROUT_DEMO_QUEUE`` names, where
no other worker of yours is listening.

With ``SPROUT_DEMO_STACK=embedded``, the settings of the embedded stack
(``sprout.embedded``) come too: the demo found no broker to use.
"""

import os

if os.environ.get("SPROUT_DEMO_STACK") == "embedded":
    from sprout.embedded import (  # noqa: F401 (settings that Celery reads from here)
        broker_transport,
        broker_transport_options,
        broker_url,
        result_backend,
        result_chord_retry_interval,
    )

task_default_queue = os.environ.get("SPROUT_DEMO_QUEUE", "sprout-demo")
