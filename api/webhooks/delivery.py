"""One attempt to deliver a notification: a signed POST, and what the answer means.

The request is signed as the Standard Webhooks specification says, with the
``standardwebhooks`` library: ``webhook-id`` (the notification's, the same
for every attempt), ``webhook-timestamp`` (this attempt's time) and
``webhook-signature`` (HMAC-SHA256 of ``id.timestamp.body`` with
WEBHOOK_SECRET). A receiver checks it with the same library:
``Webhook(secret).verify(body, headers)``.
"""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from standardwebhooks import Webhook

from . import addresses

#: Statuses after which a later attempt may get through: the receiver is busy or away.
TRY_AGAIN = frozenset({429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Answer:
    """What came of one attempt."""

    #: The receiver's HTTP status; None if it did not answer.
    status: int | None
    #: Why it was not delivered, in words; empty if it was.
    error: str
    #: Seconds from sending to the answer (or the error).
    duration: float
    #: Whether a later attempt may do better: a timeout, a network error, 429 or 5xx.
    try_again: bool

    @property
    def delivered(self):
        return self.status is not None and 200 <= self.status < 300


def headers(notification, now):
    """The request's headers, signed for the attempt at ``now``."""
    signature = Webhook(settings.WEBHOOK_SECRET).sign(
        notification.webhook_id, now, notification.body
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": "workflows-api-webhooks",
        "webhook-id": notification.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


class PinnedConnection:
    """An HTTP(S) connection to the address that ``addresses.resolve`` checked, not to
    whatever the host's name resolves to a moment later; TLS still checks the host's name."""

    def __init__(self, scheme, host, port, address, timeout):
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        options = {"context": ssl.create_default_context()} if scheme == "https" else {}
        self.connection = kind(host, port, timeout=timeout, **options)
        # http.client opens its socket with this attribute's function; the
        # checked address replaces the name it would resolve.
        self.connection._create_connection = lambda _, timeout, source: socket.create_connection(
            (address, port), timeout, source
        )

    def post(self, path, body, headers):
        """POST ``body``; the answer's status. http.client never follows a redirect."""
        try:
            self.connection.request("POST", path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read(64 * 1024)  # What the receiver says is not kept.
            return response.status
        finally:
            self.connection.close()


def post(notification):
    """Send ``notification`` once; an ``Answer``."""
    began = time.monotonic()
    now = timezone.now()

    def answer(status, error, try_again):
        return Answer(status, error, time.monotonic() - began, try_again)

    if not settings.WEBHOOK_SECRET:
        # This worker's configuration, not the receiver: it may be mended.
        return answer(None, "webhooks are not configured: no WEBHOOK_SECRET", try_again=True)
    try:
        scheme, host, port, address = addresses.resolve(notification.url)
    except (addresses.Refused, UnicodeError) as exc:
        return answer(None, f"refused: notify_url {exc}", try_again=False)
    except OSError as exc:
        return answer(None, f"the host cannot be found: {exc}", try_again=True)
    split = urlsplit(notification.url)
    path = (split.path or "/") + (f"?{split.query}" if split.query else "")
    connection = PinnedConnection(scheme, host, port, address, settings.WEBHOOK_TIMEOUT)
    try:
        status = connection.post(path, notification.body.encode(), headers(notification, now))
    except TimeoutError:
        return answer(None, f"no answer within {settings.WEBHOOK_TIMEOUT:g} s", try_again=True)
    except (OSError, http.client.HTTPException) as exc:
        return answer(None, f"{type(exc).__name__}: {exc}", try_again=True)
    except ValueError as exc:  # http.client refuses what it cannot send: final.
        return answer(None, f"{type(exc).__name__}: {exc}", try_again=False)
    if 200 <= status < 300:
        return answer(status, "", try_again=False)
    if 300 <= status < 400:
        return answer(status, "a redirect, which is not followed", try_again=False)
    return answer(status, f"HTTP {status}", try_again=status in TRY_AGAIN)
