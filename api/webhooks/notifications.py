"""The notification of a workflow's end: made once, when the end is recorded, then sent.

Every place that records an end calls ``notify_if_ended`` in the same
transaction: a step's end (``runs/records.py``, which the repair's copies
from the result store go through too) and a cancel (``runs/jobs.py``). It
reads the workflow's summary, as the API shows it, and when that says the
workflow has finished (SUCCESS, FAILURE, REVOKED) it makes the workflow's one
``Notification``, its body frozen from that summary. The row is unique per
workflow, so an end recorded twice (a step run twice, a cancel that raced a
step's end) finds it there and makes no second one. The task that delivers
it (``webhooks.deliver``) is sent once the transaction has committed, so that
a worker never looks for a row that is not there yet.
"""

import json
import logging
from datetime import timedelta

import kombu.exceptions
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from runs.models import Step, Workflow
from runs.summaries import summarize

from .models import Notification

logger = logging.getLogger(__name__)

#: The ``type`` of the event, as the Standard Webhooks specification shapes a payload.
ENDED = "workflow.ended"


def payload(workflow, summary, now):
    """What the webhook says: the event's type and time, and the workflow as it ended."""
    return {
        "type": ENDED,
        "timestamp": now,
        "data": {
            "id": workflow.id,
            "testcase": workflow.testcase,
            "state": summary.state,
            "result": summary.result,
            "error": summary.error,
            "steps": [
                {
                    "name": step.name,
                    "task_id": step.task_id,
                    "state": step.state,
                    "result": step.result,
                    "error": step.error,
                    "tries": step.tries,
                    "started_at": step.started_at,
                    "finished_at": step.finished_at,
                }
                for step in summary.steps
            ],
        },
    }


def notify_if_ended(workflow):
    """Make ``workflow``'s notification if it has a ``notify_url`` and has just ended.

    Call it inside the transaction that recorded the end. Returns the new
    ``Notification``, or None: no webhook wanted, not ended, or made before.
    """
    if not workflow.notify_url or Notification.objects.filter(workflow=workflow).exists():
        return None
    # Read again, inside this transaction, rather than from steps read before
    # (a prefetch): the end just recorded is among them.
    steps = list(Step.objects.filter(workflow_id=workflow.pk).order_by("position"))
    summary = summarize(steps, cancelled=workflow.cancelled_at is not None)
    if not summary.finished:
        return None
    now = timezone.now()
    body = json.dumps(payload(workflow, summary, now), cls=DjangoJSONEncoder, sort_keys=True)
    # get_or_create: of two ends recorded at once, the second finds the first's row.
    notification, created = Notification.objects.get_or_create(
        workflow=workflow, defaults={"url": workflow.notify_url, "body": body}
    )
    if not created:
        return None
    transaction.on_commit(lambda: send(notification.pk))
    return notification


def step_ended(task_id):
    """``notify_if_ended`` for the workflow of the step ``task_id``, which has just ended.

    One query when the workflow wants no webhook, the common case.
    """
    workflow = Workflow.objects.exclude(notify_url="").filter(steps__task_id=task_id).first()
    if workflow is not None:
        notify_if_ended(workflow)


def send(notification_id):
    """Send the task that delivers the notification ``notification_id``.

    A broker away for longer than the publishing retries (settings.py) leaves
    the notification pending, and no error escapes to whoever recorded the
    end (a request, a step): the repair sends it again later (``send_stalled``).
    """
    from .tasks import deliver

    try:
        deliver.delay(str(notification_id))
    except kombu.exceptions.OperationalError as exc:
        logger.warning("could not send the webhook %s: %s", notification_id, exc)


def send_stalled(after):
    """Send again every notification still pending whose row has not changed for ``after``
    seconds: its task was lost (a broker away when it was sent, a purged queue). Their ids.

    A task that was only slow to come (a long queue) then delivers it twice,
    under the same ``webhook-id``, which receivers dedupe by.
    """
    cutoff = timezone.now() - timedelta(seconds=after)
    stalled = list(
        Notification.objects.filter(state=Notification.PENDING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:100]
    )
    sent = []
    for notification_id in stalled:
        # Claimed first, as the repair claims a step: of two repairs at once, one sends it.
        if Notification.objects.filter(pk=notification_id, updated_at__lt=cutoff).update(
            updated_at=timezone.now()
        ):
            send(notification_id)
            sent.append(notification_id)
    return sent
