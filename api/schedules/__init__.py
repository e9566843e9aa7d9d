"""Schedules: a test case and its job data, started by Celery beat on an interval or a crontab."""
