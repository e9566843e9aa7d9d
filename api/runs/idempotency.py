"""Starts that are safe to retry: the ``Idempotency-Key`` header.

A client that sends ``POST /api/workflows/`` and loses the answer (a
timeout, a dropped connection) cannot tell whether the workflow started. With
a key of its own in the header (a UUID, say), it sends the same request again:
the same key, with the same method, path and JSON body, from the same client,
within ``KEPT_FOR``, answers the workflow that the first request started, and
starts nothing. The header is the IETF draft's "The Idempotency-Key HTTP
Header Field", which Stripe's API made familiar; this follows both:

- the key is an sf-string (``"8e03978e-40d5-43e8-bc93-6894a57f9324"``) or,
  as Stripe sends it, the bare text; 1 to 255 printable ASCII characters,
  or 400 says what is wrong with it;
- the same key with another request answers 422, and a retry that arrives
  while the first request is still being answered, 409;
- a key is remembered for a day, then forgotten (``forget_expired``).

The database decides which of two requests with one key starts the workflow:
the key's row (``models.IdempotencyKey``, unique per client and key) is
stored in the transaction that stores the workflow (``jobs.launch``'s
``store_with``). The second insert waits for the first transaction to end
(PostgreSQL waits for the row, SQLite for its write lock), then fails with
an ``IntegrityError``, and that request answers the first one's workflow.
A workflow the broker refused is deleted, and its key with it: the retry of
a 503 starts anew.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

from . import jobs
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
#: How long a key starts nothing new: a day, as Stripe keeps its keys.
KEPT_FOR = timedelta(hours=24)
#: How long a key whose workflow has not been sent yet is taken to be in the
#: hands of its first request. A request that takes longer has died between
#: storing its workflow and sending it (gunicorn kills a worker after 30 s),
#: and its workflow is answered as it stands: the repair task
#: (runs/repair.py) sends the steps of a workflow whose message was lost.
SENDING_FOR = timedelta(minutes=1)
LONGEST = 255
#: How many keys ``forget_expired`` deletes in one statement.
BATCH = 500

# What the header may hold, as the schema's pattern (views.py): the bare key,
# without space at either end (HTTP strips it), or an sf-string (RFC 8941:
# printable ASCII between double quotes, a double quote or backslash escaped
# with a backslash); optional white space around either.
BARE = rf"[!#-~](?:[ -~]{{0,{LONGEST - 2}}}[!-~])?"
QUOTED = rf'"(?:[ !#-\[\]-~]|\\["\\]){{1,{LONGEST}}}"'
PATTERN = rf"^[ \t]*(?:{BARE}|{QUOTED})[ \t]*$"


class KeyReused(APIException):
    """The key started a workflow for another request: the draft's 422."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class KeyInUse(APIException):
    """The first request with the key is still being answered: the draft's 409."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_use"


def printable(text):
    return all(" " <= character <= "~" for character in text)


def unquote(value):
    """The text of an sf-string, ``"..."``; ValueError if ``value`` is none."""
    text, escaped = [], False
    for character in value[1:-1]:
        if escaped:
            if character not in '"\\':
                raise ValueError(f'escapes {character!r}: only \\" and \\\\ may be escaped')
            text.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == '"':
            raise ValueError('holds a double quote that is not escaped (\\")')
        else:
            text.append(character)
    if len(value) < 2 or not value.endswith('"') or escaped:
        raise ValueError("starts with a double quote, so it must end with one")
    return "".join(text)


def parse(value):
    """The key that the header's ``value`` holds; ValueError saying why it holds none."""
    value = value.strip(" \t")
    if not printable(value):
        raise ValueError("must hold printable ASCII characters only")
    key = unquote(value) if value.startswith('"') else value
    if not key:
        raise ValueError("is empty: send a key of your own for each new request, such as a UUID")
    if len(key) > LONGEST:
        raise ValueError(f"is {len(key)} characters long: {LONGEST} at most")
    return key


def client_of(request):
    """Who sends ``request``, as ``IdempotencyKey.client`` says it."""
    user = request.user
    return f"user:{user.pk}" if user.is_authenticated else "anonymous"


def fingerprint(request):
    """The SHA-256 of the request's method, path and JSON body in canonical form: the keys of
    its objects sorted, no space. The same JSON written otherwise is the same request."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Key:
    """The key of one request, who sent it and what the request was."""

    client: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, request):
        """The request's key; None without the header; 400 for a header that holds none."""
        value = request.headers.get(HEADER)
        if value is None:
            return None
        try:
            key = parse(value)
        except ValueError as exc:
            raise ValidationError({HEADER: [f"the {HEADER} header {exc}"]}) from None
        return cls(client_of(request), key, fingerprint(request))

    def store(self, workflow):
        """Store the key with ``workflow``: ``jobs.launch`` calls this in its transaction."""
        IdempotencyKey.objects.create(
            client=self.client, key=self.key, fingerprint=self.fingerprint, workflow=workflow
        )

    def sent(self, workflow):
        """Say that ``workflow``'s chain is sent: from now on, the key answers the workflow."""
        IdempotencyKey.objects.filter(workflow=workflow).update(sent=True)

    def earlier(self):
        """The workflow that this key started within ``KEPT_FOR``, if it did; None if not.

        A key used for another request answers 422; one whose first request
        has not sent its workflow yet, 409. A key older than ``KEPT_FOR`` is
        forgotten here and now, for this request to store it anew.
        """
        stored = (
            IdempotencyKey.objects.filter(client=self.client, key=self.key)
            .select_related("workflow")
            .first()
        )
        if stored is None:
            return None
        now = timezone.now()
        if stored.created_at < now - KEPT_FOR:
            IdempotencyKey.objects.filter(pk=stored.pk).delete()
            return None
        if stored.fingerprint != self.fingerprint:
            raise KeyReused(
                f"the {HEADER} header {self.key!r} started a workflow for another request "
                f"(another path or body) on {stored.created_at:%Y-%m-%d %H:%M:%S} UTC: a key "
                f"stands for one request; send a new key with a new request"
            )
        if not stored.sent and stored.created_at > now - SENDING_FOR:
            raise KeyInUse(
                f"the first request with the {HEADER} header {self.key!r} is still being "
                f"answered: send it again in a moment for its workflow"
            )
        return jobs.refreshed(stored.workflow)


def start_once(request, start):
    """``start(store_with)`` once per Idempotency-Key: the workflow, and whether it was
    started by an earlier request with the key (a replay).

    ``start``: the ``jobs`` function that starts the workflow, given ``store_with``
    for ``jobs.launch`` (None without the header).
    """
    key = Key.of(request)
    if key is None:
        return start(None), False
    if (earlier := key.earlier()) is not None:
        return earlier, True
    try:
        workflow = start(key.store)
    except IntegrityError:
        # Another request stored this key first: its transaction has ended,
        # and its row can be read.
        if (earlier := key.earlier()) is None:
            raise
        return earlier, True
    key.sent(workflow)
    return workflow, False


def forget_expired(now=None):
    """Delete the keys older than ``KEPT_FOR`` (at ``now``), ``BATCH`` at a time; how many.

    Each batch is a statement of its own, a few milliseconds long: the API,
    which stores keys in the same table, never waits long for it.
    """
    before = (now or timezone.now()) - KEPT_FOR
    forgotten = 0
    while True:
        batch = list(
            IdempotencyKey.objects.filter(created_at__lt=before).values_list("pk", flat=True)[
                :BATCH
            ]
        )
        if not batch:
            return forgotten
        forgotten += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]
