"""``python manage.py watch <workflow id>``: a workflow's steps, live, until it has finished.

On a terminal, a table of the steps (state, how long each took, result or
error), under a line that names its columns, is redrawn in place; elsewhere
(a file, a pipe), each change of a step's state is printed on a line of its
own, in workflow order. The command ends when the workflow does, with its
state and result, and exit status 0 if it succeeded and 1 otherwise.
"""

import time

from celery import states
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from runs.models import Workflow
from runs.pages import seconds_between
from runs.summaries import STEP_FINISHED


class Command(BaseCommand):
    help = "Show the steps of a workflow, live, until it has finished."

    def add_arguments(self, parser):
        parser.add_argument("workflow_id", help="the id that POST /api/workflows/ answered")
        parser.add_argument(
            "--interval", type=float, default=0.2, help="seconds between two readings (0.2)"
        )

    def handle(self, workflow_id, interval, **options):
        workflows = Workflow.objects.prefetch_related("steps")
        try:
            workflow = workflows.get(pk=workflow_id)
        except (Workflow.DoesNotExist, ValidationError):
            raise CommandError(f"no workflow has the id {workflow_id!r}") from None
        # Every step starts as PENDING; from there on, only changes are news.
        shown = [(states.PENDING, None, None)] * len(workflow.summary.steps)
        lines_drawn = 0
        while True:
            # Every step's state from the database, in one query, as the API reads them.
            summary = workflow.summary
            if self.stdout.isatty():
                lines = self.table(workflow, summary)
                if lines_drawn:
                    self.stdout.write(f"\x1b[{lines_drawn}F", ending="")  # back to the first line
                self.stdout.write("".join(f"{line}\x1b[K\n" for line in lines), ending="")
                lines_drawn = len(lines)
            else:
                self.print_changes(summary.steps, shown)
            if summary.finished:
                break
            time.sleep(interval)
            workflow = workflows.get(pk=workflow.pk)
        self.stdout.write(self.outcome(workflow, summary))
        if summary.state != states.SUCCESS:
            raise CommandError(f"the workflow ended in {summary.state}", returncode=1)

    def table(self, workflow, summary):
        now = timezone.now()
        lines = [
            f"{workflow.testcase}  {summary.state}  {summary.progress} steps succeeded",
            f"  {'step':<6} {'state':<8} {'took':>7}  result or error",
        ]
        for step in summary.steps:
            detail = step.error or ("" if step.result is None else step.result)
            # From the step's record, as its page's "Elapsed": a running step's time so far.
            end = step.finished_at or (now if step.state == states.STARTED else None)
            took = seconds_between(step.started_at, end)
            lines.append(f"  {step.name:<6} {step.state:<8} {took:>7}  {detail}".rstrip())
        return lines

    def print_changes(self, steps, shown):
        for index, step in enumerate(steps):
            news = (step.state, step.result, step.error)
            if news != shown[index]:
                detail = step.error or ("" if step.result is None else step.result)
                self.stdout.write(f"{step.name:<6} {step.state} {detail}".rstrip())
                shown[index] = news
            # A worker sends a chain's next step a moment before it stores this
            # step's result: news of later steps waits until this one has finished.
            if step.state not in STEP_FINISHED:
                break

    def outcome(self, workflow, summary):
        if summary.state == states.SUCCESS:
            return f"{workflow.testcase}: SUCCESS, result {summary.result}"
        return f"{workflow.testcase}: {summary.state}" + (
            f", {summary.error}" if summary.error else ""
        )
