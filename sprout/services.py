"""Check that the broker and the result store the course needs are reachable.

Run ``python -m sprout`` to check them by hand; ``make test`` runs it
first, so that a missing service fails the run at once and says which.
"""

import importlib
import os
import sys
from dataclasses import dataclass

import redis
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

DEFAULT_BROKER_URL = "amqp://guest:guest@localhost:5672//"
DEFAULT_RESULT_BACKEND = "redis://localhost:6379/0"


def settings_module():
    """The Celery settings module that ``CELERY_CONFIG_MODULE`` names, or None.

    ``sprout.embedded`` is one: importing it points ``CELERY_BROKER_URL`` and
    ``CELERY_RESULT_BACKEND`` at its folders, as every day's app will see them.
    """
    name = os.environ.get("CELERY_CONFIG_MODULE")
    return importlib.import_module(name) if name else None


def embedded():
    """True when the course runs on the embedded stack (``sprout.embedded``)."""
    return broker_url().startswith("filesystem:")


def broker_url():
    settings_module()
    return os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL


def result_backend_url():
    settings_module()
    return os.environ.get("CELERY_RESULT_BACKEND") or DEFAULT_RESULT_BACKEND


def broker_connection(**kwargs):
    """A kombu connection to the broker the days use, with their transport options."""
    module = settings_module()
    return Connection(
        broker_url(),
        transport=getattr(module, "broker_transport", None),
        transport_options=getattr(module, "broker_transport_options", {}),
        **kwargs,
    )


@dataclass(frozen=True)
class Unreachable:
    """A service the course needs that does not answer, and why."""

    service: str  # "RabbitMQ (the broker)"
    url: str
    reason: str
    remedy: str  # what the reader can do about it

    @property
    def summary(self):
        return f"{self.service} is not reachable at {maybe_sanitize_url(self.url)}: {self.reason}"

    def __str__(self):
        return f"{self.summary}. {self.remedy}"


def check_services(timeout=3.0):
    """Return an ``Unreachable`` per service that does not answer; an empty list means all is well."""
    problems = []
    url = broker_url()
    try:
        with broker_connection(connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:
        remedy = "Start it, or point CELERY_BROKER_URL at a running broker."
        problems.append(Unreachable("RabbitMQ (the broker)", url, _reason(exc), remedy))
    url = result_backend_url()
    if url.startswith(("redis://", "rediss://")):
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=timeout)
            client.ping()
            client.close()
        except Exception as exc:
            remedy = "Start it, or point CELERY_RESULT_BACKEND at a running Redis."
            problems.append(Unreachable("Redis (the result store)", url, _reason(exc), remedy))
    return problems


def _reason(exc):
    return str(exc).rstrip(".")


def main():
    problems = check_services()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    if embedded():
        from .embedded import FOLDER
        from .paths import REPO

        where = FOLDER.relative_to(REPO) if FOLDER.is_relative_to(REPO) else FOLDER
        print(f"the embedded stack: messages and results in files under {where}/")
        return 0
    print(
        f"broker {maybe_sanitize_url(broker_url())} and result store "
        f"{maybe_sanitize_url(result_backend_url())} are reachable"
    )
    return 0
