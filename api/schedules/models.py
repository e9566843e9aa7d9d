"""A user's schedule: a test case and its job data, and the periodic task that starts it.

When it runs is django-celery-beat's: the ``PeriodicTask`` holds the interval
or the crontab, and whether it is enabled; Celery beat reads it from the
database (``DatabaseScheduler``) and sends ``maintenance.start_scheduled``
with this schedule's id each time it is due.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

#: The fields of a crontab, in django-celery-beat's (and Celery's) names.
CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


class Schedule(models.Model):
    # A UUID, as a workflow's id: known before the row is saved, so that the
    # periodic task, saved first, can name the schedule it starts.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="schedules",
    )
    testcase = models.CharField(max_length=50)
    job_data = models.JSONField()
    # Each workflow the schedule starts notifies this URL when it ends (webhooks/).
    notify_url = models.URLField(max_length=2000, blank=True)
    periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.CASCADE, related_name="workflow_schedule"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self):
        return f"{self.testcase} ({self.periodic_task.name})"

    # When it runs, as the periodic task holds it. The API reads schedules with
    # their periodic task, interval and crontab in one query (ScheduleViewSet).

    @property
    def every(self):
        """Seconds between two runs; None for a crontab."""
        interval = self.periodic_task.interval
        return interval.every if interval else None

    @property
    def crontab(self):
        """The crontab's fields, in cron's syntax; None for an interval."""
        crontab = self.periodic_task.crontab
        if crontab is None:
            return None
        return {name: getattr(crontab, name) for name in CRONTAB_FIELDS}

    @property
    def enabled(self):
        return self.periodic_task.enabled

    @property
    def last_run_at(self):
        """When its newest workflow started; the views count them in their query
        (``last_workflow_at``)."""
        if hasattr(self, "last_workflow_at"):
            return self.last_workflow_at
        newest = self.workflows.order_by("-created_at").first()
        return newest.created_at if newest else None

    @property
    def runs(self):
        """How many of the workflows it started are kept (``workflow_count`` in the views)."""
        if hasattr(self, "workflow_count"):
            return self.workflow_count
        return self.workflows.count()

    @property
    def next_run_at(self):
        """When beat will next send it, as beat reckons: from its last run (or, before the
        first, from its last change) on; None while paused. An estimate: beat keeps its
        own time of the last run, and writes it down every few minutes only."""
        task = self.periodic_task
        if not task.enabled:
            return None
        now = timezone.now()
        last = max(
            moment
            for moment in (task.last_run_at or task.date_changed, self.last_run_at, self.created_at)
            if moment is not None
        )
        if task.interval is not None:
            due = last + timedelta(seconds=task.interval.every)
        else:
            # The first time after ``last`` that the crontab names.
            start, ends_in, _ = task.crontab.schedule.remaining_delta(last)
            due = start + ends_in
        # Overdue: beat sends it at its next tick.
        return max(due, now)


@receiver(post_delete, sender=Schedule)
def delete_periodic_task(sender, instance, **kwargs):
    """A schedule deleted, by itself or with its owner, takes its periodic task along: beat
    must stop sending it. (Deleting the periodic task deletes the schedule, by CASCADE,
    but not the other way round.)"""
    PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
    # Tell beat to read its schedule again: django-celery-beat's own signal
    # says nothing for a row that beat itself wrote last ("no changes").
    PeriodicTasks.update_changed()
