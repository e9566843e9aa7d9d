"""A Celery project laid out as a package: the app in celery.py, tasks in tasks.py."""

from .celery import app

__all__ = ("app",)
