"""Helpers that the course's tests, notebooks, make demo and make serve share.

The lessons themselves (day0/ … day7/) never import this package: each day is
a complete Celery project on its own.
"""

from .paths import REPO
from .services import check_services
from .worker import DayWorker

__all__ = ("REPO", "DayWorker", "check_services")
