"""``webhooks.deliver``: POST a workflow's notification until it arrives, or until it is
clear that it will not.

Delivered once per ending, as far as a sender can: the task reads the
notification's row first, and one that says delivered (or failed) is left as
it is, so a message delivered twice sends nothing the second time. The
message is acknowledged late (``acks_late``, settings.py): a worker killed in
the middle of a POST never acknowledged it, so the broker hands it to the
next worker, which POSTs again. The receiver may then have had it twice, and
gets the same ``webhook-id`` both times: the Standard Webhooks specification
asks receivers to dedupe by it, since no sender can know whether a request
whose answer it never read arrived.

Retries: after a timeout, a refused connection or another network error, or
an answer of 429 or 5xx, the task is sent again after a wait drawn from
nothing to WEBHOOK_BACKOFF doubled with every attempt (at most
WEBHOOK_BACKOFF_MAX): "full jitter", so that the webhooks of a receiver that
was away do not all come back at once. Any other 4xx, a redirect, or a URL
that is now refused is final. After WEBHOOK_MAX_ATTEMPTS attempts it fails.
"""

import random

import django.db
from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runs import metrics
from runs.base import LoggedTask

from . import delivery
from .models import Attempt, Notification

logger = get_task_logger(__name__)

#: How an attempt ends, by the state it leaves its notification in, as the metrics name it.
OUTCOMES = {
    Notification.DELIVERED: "delivered",
    Notification.PENDING: "retrying",
    Notification.FAILED: "failed",
}

#: What an attempt whose worker ended before the answer leaves in its record.
INTERRUPTED = "no answer recorded: the worker stopped during the attempt"


def wait_before(attempts):
    """Seconds to wait before the attempt after ``attempts`` attempts: full jitter."""
    ceiling = min(settings.WEBHOOK_BACKOFF_MAX, settings.WEBHOOK_BACKOFF * 2 ** (attempts - 1))
    return random.uniform(0, ceiling)


@shared_task(
    bind=True,
    base=LoggedTask,
    name="webhooks.deliver",
    acks_late=True,
    ignore_result=True,
    # The attempts are counted in the database (WEBHOOK_MAX_ATTEMPTS), not by Celery.
    max_retries=None,
    # The database away: try again later rather than lose the webhook.
    autoretry_for=(django.db.OperationalError, django.db.InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
)
def deliver(self, notification_id):
    """Make one attempt to deliver the notification ``notification_id``; send itself
    again for the next if this one may get through later. Returns its state."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None or notification.state != Notification.PENDING:
        # Delivered, or given up, already (a message delivered again), or deleted.
        return notification and notification.state
    # Recorded before the request: an attempt that its worker does not survive still shows.
    attempt = Attempt.objects.create(
        notification=notification, at=timezone.now(), error=INTERRUPTED
    )
    answer = delivery.post(notification)
    attempts = notification.attempts.count()
    if answer.delivered:
        state = Notification.DELIVERED
    elif answer.try_again and attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        state = Notification.PENDING
    else:
        state = Notification.FAILED
    with transaction.atomic():
        attempt.status = answer.status
        attempt.error = answer.error
        attempt.duration = answer.duration
        attempt.save(update_fields=["status", "error", "duration"])
        notification.state = state
        notification.save(update_fields=["state", "updated_at"])
    metrics.webhook_attempt(OUTCOMES[state], answer.duration)
    if state == Notification.PENDING:
        countdown = wait_before(attempts)
        logger.warning(
            "attempt %d of %d: %s; trying again in %.1f s",
            attempts, settings.WEBHOOK_MAX_ATTEMPTS, answer.error, countdown,
        )  # fmt: skip
        raise self.retry(countdown=countdown)
    if state == Notification.FAILED:
        logger.error("gave up after attempt %d: %s", attempts, answer.error)
    return state
