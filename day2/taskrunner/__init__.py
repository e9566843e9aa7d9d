"""A Celery project whose tasks live in several modules, listed in the app's include."""

from taskrunner.celery import app

__all__ = ("app",)
