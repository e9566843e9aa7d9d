"""Retention: finished workflows older than RETENTION_DAYS are deleted, a batch at a time.

Celery forgets a result after ``result_expires`` (a day); the database, the
record of truth, would keep every workflow forever. Celery beat sends
``maintenance.retention`` every RETENTION_EVERY seconds (config/settings.py),
and it deletes the workflows that finished and were started more than
RETENTION_DAYS ago, with their steps and what hangs on them (their
webhook's record, the Idempotency-Key that started them).

Each batch of RETENTION_BATCH workflows is deleted in a transaction of its
own, a few statements long: the API and the workers, which write to the same
tables, never wait long for it, and a retention interrupted half-way has
deleted whole workflows only. A workflow that has not finished is never
deleted, however old: a step of it may still be running, or waiting to retry.
"""

import logging
from datetime import timedelta

from celery import states
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Workflow

logger = logging.getLogger(__name__)

#: The states of a step that may still move: its workflow is not to be deleted.
MOVING = (states.STARTED, states.RETRY)


def delete_old_workflows(days, batch=500, now=None):
    """Delete the finished workflows started more than ``days`` ago; how many were deleted.

    The old workflows are read in the order they were started, ``batch`` at a
    time; of each batch, those that have finished (their summary says so, as
    the API would) are deleted in one short transaction.
    """
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = (
        Workflow.objects.filter(created_at__lt=cutoff)
        .exclude(steps__state__in=MOVING)
        .order_by("created_at", "id")
        .prefetch_related("steps")
    )
    deleted = 0
    page = old
    while True:
        workflows = list(page[:batch])
        if not workflows:
            return deleted
        finished = [workflow.pk for workflow in workflows if workflow.summary.finished]
        if finished:
            with transaction.atomic():
                # Read again inside the transaction: a step that started
                # meanwhile keeps its workflow.
                gone = Workflow.objects.filter(pk__in=finished).exclude(steps__state__in=MOVING)
                count = gone.count()
                gone.delete()
            deleted += count
            logger.info("deleted %d finished workflows started before %s", count, cutoff)
        # The next batch starts after the last workflow of this one, so that
        # the old workflows that have not finished are read once only.
        last = workflows[-1]
        page = old.filter(
            Q(created_at__gt=last.created_at) | Q(created_at=last.created_at, id__gt=last.pk)
        )
