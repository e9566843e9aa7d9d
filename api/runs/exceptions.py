"""Every error answers JSON, whether DRF or Django handles it: never an HTML page.

What the workflows refuse (``jobs.Conflict``) answers 409. A service that
cannot be reached answers 503 and says which one: the broker (RabbitMQ), the
result store (Redis) or the database. The pages (``runs/pages.py``) answer
these errors with the same status and words, from ``answer_for``.
"""

import logging

import kombu.exceptions
import redis.exceptions
from django import db
from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, Throttled
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import jobs
from .limits import too_many

logger = logging.getLogger(__name__)

UNAVAILABLE = {
    "broker": (
        (jobs.NotSent, kombu.exceptions.OperationalError),
        "the broker (RabbitMQ) is not reachable, so no task can be sent",
    ),
    "result_store": (
        (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
        "the result store (Redis) is not reachable, so no task's state can be read",
    ),
    "database": (
        (db.OperationalError, db.InterfaceError),
        "the database cannot be used",
    ),
}


HOW_TO_AUTHENTICATE = (
    "send a token, as 'Authorization: Token <key>' (python manage.py drf_create_token <user> "
    "makes one), or log in at /accounts/login/ and use the session"
)


def answer_for(exc):
    """The status and the body that answer ``exc``, if it is a refusal of the workflows'
    or a service out of reach; None for any other error."""
    if isinstance(exc, jobs.Conflict):
        return status.HTTP_409_CONFLICT, {"detail": str(exc)}
    for service, (errors, message) in UNAVAILABLE.items():
        if isinstance(exc, errors):
            body = {"detail": f"{message}: {exc}", "service": service}
            return status.HTTP_503_SERVICE_UNAVAILABLE, body
    return None


def exception_handler(exc, context):
    """DRF's handler, and JSON answers for the errors it leaves to Django."""
    response = drf_exception_handler(exc, context)
    if isinstance(exc, NotAuthenticated):
        response.data = {
            "detail": f"authentication credentials were not provided: {HOW_TO_AUTHENTICATE}"
        }
    elif isinstance(exc, AuthenticationFailed):
        response.data = {"detail": f"{exc.detail}: {HOW_TO_AUTHENTICATE}"}
    elif isinstance(exc, Throttled):
        response.data = {"detail": too_many(exc.wait or 1)}
    if response is not None:
        return response
    if answer := answer_for(exc):
        code, body = answer
        if code == status.HTTP_503_SERVICE_UNAVAILABLE:
            logger.warning("%s", body["detail"])
        return Response(body, status=code)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": f"bad request: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
    logger.exception("unexpected error", exc_info=exc)
    return Response(
        {"detail": "internal server error: the API's log says more"},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# Django's own handlers, for what happens outside DRF's views: an unknown URL,
# a disallowed Host header, a body too large to read.


def bad_request(request, exception):
    return JsonResponse({"detail": "bad request"}, status=400)


def permission_denied(request, exception):
    return JsonResponse({"detail": "permission denied"}, status=403)


def not_found(request, exception):
    detail = f"not found: {request.path}"
    if not request.path.endswith("/"):
        try:
            resolve(request.path + "/")
            detail += f" (the API's URLs end with a slash: {request.path}/)"
        except Resolver404:
            pass
    return JsonResponse({"detail": detail}, status=404)


def server_error(request):
    return JsonResponse({"detail": "internal server error: the API's log says more"}, status=500)
