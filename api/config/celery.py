"""The Celery app of the workflows API.

Usage::

    # In api/: a worker for the steps of every workflow the API starts.
    celery -A config worker -l INFO
"""

import importlib
import os

from celery import Celery
from celery.app.defaults import DEFAULTS

# The worker imports this module before Django: tell it where the settings are.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")

# Using a string here means the worker doesn't have to serialize the
# configuration object to child processes. The CELERY namespace means every
# Celery setting is written in settings.py with a CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")

# CELERY_CONFIG_MODULE=sprout.embedded runs the course with no server at all,
# its messages and results in files (see the course's README). Celery reads
# that module by itself only in apps that take no settings object, as the days
# do; here its settings come on top of those in settings.py.
if os.environ.get("CELERY_CONFIG_MODULE"):
    settings_module = importlib.import_module(os.environ["CELERY_CONFIG_MODULE"])
    app.conf.update({k: v for k, v in vars(settings_module).items() if k in DEFAULTS})

# Load the tasks module of every Django app: runs/tasks.py.
app.autodiscover_tasks()
