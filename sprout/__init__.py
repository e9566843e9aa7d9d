"""What a reader runs beside the lessons.

``make demo``, ``make serve``, ``make lab`` and ``make screenshots``; the
notebooks' helpers (``DayWorker``, ``ApiServer``, ``Flower``); the embedded
stack (``sprout.embedded``, and ``sprout.embedded_api`` for the API); a
worker on a queue of its own (``sprout.queue_settings``). The course's
tests use them too; what only the tests use lives in ``tests/support/``.

The lessons (day0/ … day7/) and the capstone (api/) never import this
package: each day is a complete Celery project on its own, and the API is
told from outside which stack to use, through its settings module.
"""

from .paths import REPO
from .services import check_services
from .worker import DayWorker

__all__ = ("REPO", "DayWorker", "check_services")
