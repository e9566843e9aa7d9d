"""Whether the services the API needs answer: the broker, the result store, the database.

Each check returns None when its service answers, or the reason it does not.
"""

from django.db import connection
from kombu.utils.url import maybe_sanitize_url

from config import celery_app

# Seconds a check waits for its service: a health check must answer quickly.
TIMEOUT = 2


def reason(exc):
    return f"{type(exc).__name__}: {exc}".rstrip(".")


def check_broker():
    url = celery_app.conf.broker_url
    try:
        with celery_app.connection_for_write(connect_timeout=TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT)
    except Exception as exc:
        return f"the broker at {maybe_sanitize_url(url)} is not reachable: {reason(exc)}"
    return None


def check_result_store():
    backend = celery_app.backend
    try:
        backend.get(backend.get_key_for_task("health-check"))
    except Exception as exc:
        url = maybe_sanitize_url(celery_app.conf.result_backend)
        return f"the result store at {url} is not reachable: {reason(exc)}"
    return None


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"the database ({connection.vendor}) is not reachable: {reason(exc)}"
    return None


CHECKS = {"broker": check_broker, "result_store": check_result_store, "database": check_database}


def check_services():
    """Every service's reason for not answering, by name; None for those that answer."""
    return {name: check() for name, check in CHECKS.items()}
