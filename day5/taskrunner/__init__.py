"""A Celery project that finds its task modules by itself, at any depth under tasks/."""

from taskrunner.celery import app

__all__ = ("app",)
