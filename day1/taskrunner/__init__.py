"""A Celery project laid out as a package: the app in celery.py, tasks in tasks.py."""

from taskrunner.celery import app

__all__ = ("app",)
