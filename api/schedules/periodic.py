"""Make, pause, resume and delete a schedule: a ``Schedule`` and its ``PeriodicTask``.

Celery beat, with django-celery-beat's ``DatabaseScheduler``, reads the
periodic tasks from the database: it sends ``maintenance.start_scheduled``
with the schedule's id each time one is due. Every change saves the
``PeriodicTask``, which tells beat (through django-celery-beat's signals) to
read its schedule again: it looks for changes at each of its ticks, at least
every 5 seconds. The views and the pages call these functions and nothing else.
"""

import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from .models import CRONTAB_FIELDS, Schedule

TASK = "maintenance.start_scheduled"
#: A start that waited this long for a worker is dropped (its message expires):
#: the next one is on its way. Never less than the interval, so that a start is
#: not dropped for waiting less than one interval.
EXPIRES_AFTER = 60


def interval_of(every):
    # One row per interval, shared by every schedule that runs that often.
    found = IntervalSchedule.objects.filter(every=every, period=IntervalSchedule.SECONDS).first()
    return found or IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)


def crontab_of(fields):
    spec = {name: fields.get(name, "*") for name in CRONTAB_FIELDS}
    # In UTC, as the API's times are; django-celery-beat's default zone is Django's, UTC.
    found = CrontabSchedule.objects.filter(**spec, timezone="UTC").first()
    return found or CrontabSchedule.objects.create(**spec, timezone="UTC")


def create(testcase, job_data, *, every=None, crontab=None, owner=None, notify_url=""):
    """A new schedule that starts ``testcase`` every ``every`` seconds, or on ``crontab``.

    ``crontab``: some of ``CRONTAB_FIELDS``, each in cron's syntax; ``*`` for
    those not given. The caller has checked them (``ScheduleSerializer``).
    """
    schedule = Schedule(owner=owner, testcase=testcase, job_data=job_data, notify_url=notify_url)
    with transaction.atomic():
        schedule.periodic_task = PeriodicTask.objects.create(
            name=f"schedule {schedule.id}",
            task=TASK,
            kwargs=json.dumps({"schedule_id": str(schedule.id)}),
            interval=interval_of(every) if every is not None else None,
            crontab=crontab_of(crontab) if crontab is not None else None,
            expire_seconds=max(every or 0, EXPIRES_AFTER),
            description=f"starts {testcase} (schedules/)",
        )
        schedule.save()
    return schedule


def set_enabled(schedule, enabled):
    """Pause (``False``) or resume (``True``) ``schedule``; nothing changes if it already is."""
    task = schedule.periodic_task
    if task.enabled != enabled:
        task.enabled = enabled
        # Resumed, it next runs one interval from now (or at the crontab's next
        # time), rather than at once for the runs it missed. (Paused, the task
        # forgets its last run: django-celery-beat's save does that.)
        if enabled:
            task.last_run_at = timezone.now()
        # Beat marks the rows it writes itself "no changes", which would keep
        # this save from telling it: this one is a change.
        task.no_changes = False
        task.save(update_fields=["enabled", "last_run_at", "date_changed"])
    return schedule


def delete(schedule):
    """Delete ``schedule`` and its periodic task; its workflows stay, without it."""
    with transaction.atomic():
        schedule.delete()  # its PeriodicTask goes too (models.delete_periodic_task)
