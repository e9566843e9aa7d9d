"""A Celery project whose tasks live in several modules, listed in the app's include."""

from .celery import app

__all__ = ("app",)
