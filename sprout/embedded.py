"""The embedded stack: Celery with no server at all, its broker and results in files.

Switch it on with one environment variable, in any terminal of any day, and
of ``make demo``, ``make serve`` or the notebooks::

    export CELERY_CONFIG_MODULE=sprout.embedded

Celery reads the module that ``CELERY_CONFIG_MODULE`` names as the settings
of every app that is given none of its own: every day's app, unchanged. The
API takes Django's settings instead: in its own terminals, name the course's
settings module for it, ``DJANGO_SETTINGS_MODULE=sprout.embedded_api``
(``make serve`` and the others do that themselves). ``make demo`` chooses this stack when neither RabbitMQ and Redis nor Docker
are there. Everything lives under ``.embedded/`` at the
top of the course, which git ignores:

- ``broker/queues/`` kombu's filesystem transport: one file per message,
  named after its queue;
- ``broker/exchanges/`` which queues each exchange delivers to (the
  broadcasts of remote control and the monitoring events use it);
- ``broker/processed/`` the messages read, moved there in one rename, which
  is what stops two workers from taking the same message;
- ``results/`` Celery's file result store: one file per task.

A file has no way to wake its reader, so workers look for new messages, and
clients for results, every ``POLL`` seconds. At the defaults (a second for a
message, half a second for a result), each step of a chain would wait that
long; at 5 ms, a 4-step chain takes about two to three times as long as on
RabbitMQ and Redis, and an idle worker uses 2 to 3 % of a core.

``SPROUT_EMBEDDED_FOLDER`` puts the folders elsewhere (the tests give each run
a folder of its own).

This module is a settings module, and importing it is the switch: Celery
imports it when an app first reads its settings, it makes its folders, and it
sets ``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND`` for the process and
the workers it starts (see the end of the file for why). Celery imports it
through ``CELERY_CONFIG_MODULE``; ``sprout.queue_settings`` and
``sprout.embedded_api`` bring its settings to a worker on a queue of its own
and to the API.
"""

import os

from .paths import REPO

# A relative SPROUT_EMBEDDED_FOLDER is taken from the top of the course, so that
# a worker started in a day's folder and a client started elsewhere agree.
FOLDER = REPO / os.environ.get("SPROUT_EMBEDDED_FOLDER", ".embedded")
QUEUES = FOLDER / "broker" / "queues"
EXCHANGES = FOLDER / "broker" / "exchanges"
PROCESSED = FOLDER / "broker" / "processed"
RESULTS = FOLDER / "results"

#: How often, in seconds, a worker or a client looks for a new message or result.
POLL = 0.005

for folder in (QUEUES, EXCHANGES, PROCESSED, RESULTS):
    folder.mkdir(parents=True, exist_ok=True)

broker_url = "filesystem://localhost//"
# kombu's filesystem transport, with its writes made safe for several
# processes at once (see sprout/filesystem.py).
broker_transport = "sprout.filesystem:Transport"
broker_transport_options = {
    # Producers write where consumers read: one folder serves both.
    "data_folder_in": str(QUEUES),
    "data_folder_out": str(QUEUES),
    "control_folder": str(EXCHANGES),
    "store_processed": True,
    "processed_folder": str(PROCESSED),
    "polling_interval": POLL,
}
# Celery's file result store, asked as often as the broker (see sprout/filesystem.py).
result_backend = f"sprout.filesystem:ResultStore+file://{RESULTS}"
# A chord's last step waits for the others by asking the result store again
# and again, each time with a message: ten times a second, not once.
result_chord_retry_interval = 0.1
# When a pool process dies in the middle of a task, the worker waits this long
# for a result the process may have sent just before, then fails the task (or,
# with task_reject_on_worker_lost, gives it back to the queue). On RabbitMQ, the
# worker's event loop hears of the death at once; on files it has no event
# loop, and the wait is the whole default, ten seconds. Here, a result sent
# through the pool's pipe on the same machine arrives within a second.
worker_lost_wait = 1.0

# The days name RabbitMQ and Redis in ``Celery(broker=..., backend=...)``, and
# only the environment outranks what an app is given there: Celery's own
# ``celery --broker`` option works the same way.
os.environ["CELERY_BROKER_URL"] = broker_url
os.environ["CELERY_RESULT_BACKEND"] = result_backend
