"""The Celery app of the workflows API.

Usage::

    # In api/: a worker for the steps of every workflow the API starts.
    celery -A config worker -l INFO
"""

import os

from celery import Celery

# The worker imports this module before Django: tell it where the settings are.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")

# Using a string here means the worker doesn't have to serialize the
# configuration object to child processes. The CELERY namespace means every
# Celery setting is written in settings.py with a CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Load the tasks module of every Django app: runs/tasks.py.
app.autodiscover_tasks()

# A worker's metrics for Prometheus: served on METRICS_PORT when it is set.
from . import worker_metrics  # noqa: E402, F401
