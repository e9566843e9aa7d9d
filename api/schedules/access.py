"""Whose schedules each user sees: as for workflows (runs/access.py).

A schedule belongs to the user who made it: another user cannot tell it
exists (its URL answers 404), and staff see every schedule. With anonymous
access on, every schedule is the anonymous reader's.
"""

from django.db.models import Count, Max

from runs.access import anonymous_allowed

from .models import Schedule


def visible_schedules(user):
    """The schedules ``user`` may see: their own; all of them for staff, or with anonymous access.

    Newest first, in one query: each with its periodic task, its interval or
    crontab, and its workflows counted (``Schedule.runs``, ``last_run_at``).
    """
    schedules = Schedule.objects.all()
    if not (anonymous_allowed() or user.is_staff):
        schedules = schedules.filter(owner=user)
    return (
        schedules.select_related("periodic_task__interval", "periodic_task__crontab")
        .annotate(workflow_count=Count("workflows"), last_workflow_at=Max("workflows__created_at"))
        # A query that counts is not ordered by the model's ordering: say it.
        .order_by("-created_at")
    )
