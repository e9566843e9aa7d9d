"""What the API refuses for its own good: bodies too large to read, starts too many to run.

``RefuseLargeBodies`` answers 413, in JSON, to a request whose body is larger
than ``DATA_UPLOAD_MAX_MEMORY_SIZE``, before anything reads it.
``StartRateThrottle`` lets each user start ``API_START_RATE`` workflows
(``60/minute``) and answers 429, with ``Retry-After``, to the next.
"""

import logging
import math

import redis.exceptions
from django.conf import settings
from django.http import JsonResponse
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)


class RefuseLargeBodies:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "the Content-Length header is not a number"}, status=400)
        if length > limit:
            return JsonResponse(
                {"detail": f"the request body is {length} bytes: the API reads {limit} at most"},
                status=413,
            )
        return self.get_response(request)


class StartRateThrottle(UserRateThrottle):
    """``API_START_RATE`` starts per user (per address for an anonymous reader).

    DRF's ``UserRateThrottle``, which counts per user, in its own scope and
    with its rate from the settings; and fail-open. The counts live in
    Django's cache (Redis). A cache that does not answer lets the start
    through, and the log says so: the workflow matters more than its count.
    """

    scope = "start"

    def get_rate(self):
        return settings.API_START_RATE

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (redis.exceptions.RedisError, OSError) as exc:
            logger.warning("could not count this start (%s): letting it through", exc)
            return True


def too_many(wait):
    """Why a start was refused, and when the user may start again."""
    return (
        f"too many workflows started: {settings.API_START_RATE} at most; try again in {wait:.0f} s"
    )


def refuse_start(request):
    """Count a start from a page: None if allowed, else the seconds to wait (a 429)."""
    throttle = StartRateThrottle()
    if throttle.allow_request(request, None):
        return None
    return math.ceil(throttle.wait() or 1)
