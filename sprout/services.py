"""Check that the broker and the result store the course needs are reachable.

Run ``python -m sprout`` to check them by hand; ``make test`` runs it
first, so that a missing service fails the run at once and says which.
"""

import os
import sys

import redis
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

DEFAULT_BROKER_URL = "amqp://guest:guest@localhost:5672//"
DEFAULT_RESULT_BACKEND = "redis://localhost:6379/0"


def broker_url():
    return os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL


def result_backend_url():
    return os.environ.get("CELERY_RESULT_BACKEND") or DEFAULT_RESULT_BACKEND


def check_services(timeout=3.0):
    """Return one sentence per unreachable service; an empty list means all is well."""
    problems = []
    url = broker_url()
    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:
        problems.append(
            f"RabbitMQ (the broker) is not reachable at {maybe_sanitize_url(url)}: {_reason(exc)}. "
            "Start it, or point CELERY_BROKER_URL at a running broker."
        )
    url = result_backend_url()
    if url.startswith(("redis://", "rediss://")):
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=timeout)
            client.ping()
            client.close()
        except Exception as exc:
            problems.append(
                f"Redis (the result store) is not reachable at {maybe_sanitize_url(url)}: {_reason(exc)}. "
                "Start it, or point CELERY_RESULT_BACKEND at a running Redis."
            )
    return problems


def _reason(exc):
    return str(exc).rstrip(".")


def main():
    problems = check_services()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"broker {maybe_sanitize_url(broker_url())} and result store "
        f"{maybe_sanitize_url(result_backend_url())} are reachable"
    )
    return 0
