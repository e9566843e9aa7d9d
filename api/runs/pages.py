"""The workflows as web pages: the list, with a form that starts one, and one workflow's steps.

The pages read and change workflows with the same functions as the API
(``jobs``) and validate the form with the API's own serializer, so an error
reads as the API words it. The server renders each page whole, so it is
right with JavaScript off. The part of a workflow's page that changes while
it runs (state, progress, steps, their timeline and logs, buttons) is a
template of its own, ``workflow_live.html``; ``workflow.js`` asks for it
again once a second and puts it in place, until the workflow has finished.
The timeline (``runs/timelines.py``) is drawn there too, as SVG: its bars
appear and grow with each answer, and a running step's bar reaches to the
moment the answer was made.

Why polling and not Server-Sent Events: gunicorn's sync workers serve one
request at a time, and an event stream would hold one of them for as long as
a page stays open; a poll is one short request, and two queries (the
workflow, and all its steps at once), whatever the number of steps. A step
changes every few seconds at most, so once a second shows every change.
A workflow that asked for a webhook (``notify_url``) shows its notification
and every attempt to deliver it, and its page keeps asking while the webhook
is still being tried.
"""

import json
from dataclasses import asdict

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from . import jobs, timelines
from .access import owner_of_new, signed_in, visible_workflows
from .exceptions import answer_for
from .limits import refuse_start, too_many
from .models import Workflow
from .serializers import WorkflowSerializer
from .testcases import TESTCASES

#: How many workflows the list shows, newest first.
LISTED = 50
#: How often a running workflow's page asks the API for its steps, in milliseconds.
POLL_MS = 1000


def messages_of(errors):
    """A serializer's errors for one field as lines: ``div: must hold 2 numbers, not 1``."""
    if isinstance(errors, dict):
        return [f"{key}: {message}" for key, found in errors.items() for message in found]
    return [str(message) for message in errors]


@require_http_methods(["GET", "POST"])
@signed_in
def workflow_list(request):
    """GET: the workflows, newest first, and the form. POST: start the form's workflow."""
    status, wait = 200, None
    errors = {}
    form = {"testcase": next(iter(TESTCASES)), "job_data": None}
    if request.method == "POST":
        # The form's fields, without the CSRF token that came with them.
        data = request.POST.copy()
        data.pop("csrfmiddlewaretoken", None)
        serializer = WorkflowSerializer(data=data, context={"request": request})
        form = {
            "testcase": request.POST.get("testcase", ""),
            "job_data": request.POST.get("job_data", ""),
        }
        if wait := refuse_start(request):
            errors = {"form": [too_many(wait)]}
            status = 429
        elif serializer.is_valid():
            try:
                workflow = serializer.save(owner=owner_of_new(request))
            except jobs.NotSent as exc:
                # 503, in the words the API would answer.
                status, body = answer_for(exc)
                errors = {"form": [body["detail"]]}
            else:
                return redirect("workflow-page", pk=workflow.id)
        else:
            errors = {field: messages_of(found) for field, found in serializer.errors.items()}
            status = 400
    if form["job_data"] is None:
        form["job_data"] = json.dumps(TESTCASES[form["testcase"]].example)
    # One query for the workflows, one for all their steps.
    workflows = visible_workflows(request.user).prefetch_related("steps")[:LISTED]
    context = {
        "workflows": workflows,
        "testcases": list(TESTCASES),
        "examples": {name: testcase.example for name, testcase in TESTCASES.items()},
        "form": form,
        "errors": errors,
    }
    response = render(request, "runs/workflow_list.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(wait)
    return response


def workflow_or_404(request, pk):
    """The workflow ``pk`` if the user may see it; 404, as for an id nobody issued, if not."""
    try:
        return visible_workflows(request.user).prefetch_related("steps").get(pk=pk)
    except Workflow.DoesNotExist:
        raise Http404(f"no workflow has the id {str(pk)!r}") from None


def seconds_between(start, end):
    return f"{(end - start).total_seconds():.1f} s" if start and end else ""


def notification_of(workflow):
    """The webhook of ``workflow``'s end (``webhooks.Notification``); None before it has one.

    Two more queries (the notification, its attempts) for a workflow that asked
    for a webhook; none for one that did not.
    """
    if not workflow.notify_url:
        return None
    try:
        return workflow.notification
    except ObjectDoesNotExist:
        return None


def live_context(request, workflow):
    """What the live part of a workflow's page shows: its state, progress, steps, webhook
    and buttons."""
    now = timezone.now()
    notification = notification_of(workflow)
    summary = workflow.summary
    steps = [
        {
            **asdict(step),
            "number": number,
            # A running step's time so far; a finished step's time from start to end.
            "elapsed": seconds_between(
                step.started_at, step.finished_at or (now if step.state == "STARTED" else None)
            ),
            "log_lines": step.log.count("\n"),
        }
        for number, step in enumerate(summary.steps, start=1)
    ]
    return {
        "workflow": workflow,
        "summary": summary,
        "steps": steps,
        "timeline": timelines.draw(workflow, summary, now),
        "finished": summary.finished,
        "notification": notification,
        # The page stops asking once nothing on it can change: the workflow has
        # finished, and its webhook, if any, is no longer being tried.
        "settled": summary.finished
        and not (workflow.notify_url and (notification is None or notification.state == "pending")),
        "can_cancel": not summary.finished and workflow.cancelled_at is None,
        "can_resume": summary.finished and summary.state in {"FAILURE", "REVOKED"},
        "live_url": reverse("workflow-page-live", args=[workflow.id]),
        "poll_ms": POLL_MS,
    }


@require_http_methods(["GET"])
@signed_in
def workflow_detail(request, pk):
    """One workflow's page: its job data, and the live part, which workflow.js keeps up to date."""
    return render_workflow(request, workflow_or_404(request, pk))


@require_http_methods(["GET"])
@signed_in
def workflow_live(request, pk):
    """The live part of a workflow's page alone: what workflow.js asks for once a second.

    One query for the workflow, one for all its steps, from the database the
    worker writes each step into.
    """
    context = live_context(request, workflow_or_404(request, pk))
    return render(request, "runs/workflow_live.html", context)


def render_workflow(request, workflow, error=None, status=200):
    context = {
        **live_context(request, workflow),
        "api_url": reverse("workflow-detail", args=[workflow.id]),
        "job_data": json.dumps(workflow.job_data),
        "error": error,
    }
    return render(request, "runs/workflow_detail.html", context, status=status)


ACTIONS = {"cancel": jobs.cancel, "relaunch": jobs.relaunch, "resume": jobs.resume}


@require_http_methods(["POST"])
@signed_in
def workflow_action(request, pk, action):
    """Cancel, relaunch or resume a workflow from its page; land on the workflow to watch."""
    workflow = workflow_or_404(request, pk)
    if action != "cancel" and (wait := refuse_start(request)):
        response = render_workflow(request, workflow, too_many(wait), 429)
        response["Retry-After"] = str(wait)
        return response
    try:
        changed = ACTIONS[action](workflow)
    except (jobs.Conflict, jobs.NotSent) as exc:
        # 409: not in a state that allows it; 503: no broker. In the API's words.
        status, body = answer_for(exc)
        return render_workflow(request, jobs.refreshed(workflow), body["detail"], status)
    return redirect("workflow-page", pk=changed.id)
