"""The Django project of the workflows API.

The Celery app is imported here so that it is loaded whenever Django starts,
and ``@shared_task`` in the apps binds to it.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
