"""The schedules as a web page: the user's schedules, their buttons, and a form that adds one.

As the workflows' pages do (runs/pages.py), the page validates its form with
the API's own serializer, so an error reads as the API words it, and changes
schedules with the same functions as the API (``periodic``). The server
renders it whole; its buttons are forms, with CSRF tokens, that land back on
the list.
"""

import json

from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from runs.access import owner_of_new, signed_in
from runs.limits import refuse_start, too_many
from runs.pages import messages_of
from runs.testcases import TESTCASES

from . import periodic
from .access import visible_schedules
from .models import Schedule
from .serializers import ScheduleSerializer

#: How many schedules the list shows, newest first.
LISTED = 100
#: The interval the form offers first, in seconds.
EVERY = 60


@require_http_methods(["GET", "POST"])
@signed_in
def schedule_list(request):
    """GET: the user's schedules, newest first, and the form. POST: add the form's schedule."""
    status, wait = 200, None
    errors = {}
    form = {"testcase": next(iter(TESTCASES)), "job_data": None, "every": EVERY}
    if request.method == "POST":
        # The form's fields, without the CSRF token that came with them.
        data = request.POST.copy()
        data.pop("csrfmiddlewaretoken", None)
        serializer = ScheduleSerializer(data=data, context={"request": request})
        form = {name: request.POST.get(name, "") for name in ("testcase", "job_data", "every")}
        if wait := refuse_start(request):
            errors = {"form": [too_many(wait)]}
            status = 429
        elif serializer.is_valid():
            valid = serializer.validated_data
            periodic.create(
                valid["testcase"],
                valid["job_data"],
                every=valid.get("every"),
                crontab=valid.get("crontab"),
                owner=owner_of_new(request),
                notify_url=valid.get("notify_url", ""),
            )
            return redirect("schedule-pages")
        else:
            errors = {field: messages_of(found) for field, found in serializer.errors.items()}
            status = 400
    if form["job_data"] is None:
        form["job_data"] = json.dumps(TESTCASES[form["testcase"]].example)
    schedules = visible_schedules(request.user)[:LISTED]
    context = {
        "schedules": schedules,
        "testcases": list(TESTCASES),
        "examples": {name: testcase.example for name, testcase in TESTCASES.items()},
        "form": form,
        "errors": errors,
    }
    response = render(request, "schedules/schedule_list.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(wait)
    return response


ACTIONS = {
    "pause": lambda schedule: periodic.set_enabled(schedule, False),
    "resume": lambda schedule: periodic.set_enabled(schedule, True),
    "delete": periodic.delete,
}


@require_http_methods(["POST"])
@signed_in
def schedule_action(request, pk, action):
    """Pause, resume or delete a schedule from the list; land on the list again."""
    try:
        schedule = visible_schedules(request.user).get(pk=pk)
    except Schedule.DoesNotExist:
        raise Http404(f"no schedule has the id {str(pk)!r}") from None
    ACTIONS[action](schedule)
    return redirect("schedule-pages")
