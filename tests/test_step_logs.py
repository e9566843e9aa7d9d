"""A step's log and its history: what the step logged, try after try, and when its state changed;
in the API's answers and on the workflow's page, as its logs and its timeline.

A real worker runs the steps (``celery -A config worker -l INFO``, as the
README starts it); the page is read as the server renders it, which is what a
browser shows with JavaScript off. test_browser.py watches the timeline grow
in Chromium; test_api_faults.py checks the log and the timeline of a step
that retried, and of one whose worker process was killed.
"""

import html
import logging
import re
import threading
import uuid
from datetime import datetime

import pytest
from celery.utils.log import get_task_logger
from django.test import override_settings

from runs import jobs, records, steplogs, timelines
from runs.models import Step, Workflow
from tests.support.workflows import wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

# The worker of test_pages.py: steps of 0.3 s.
API_WORKER_ENV = {"TASK_DELAY": "0.3"}
TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
OVERFLOW = {"div": [1e308, 1], "mul": [10.0], "add": [6], "sub": [2]}
# A line of a step's log: its time in UTC, to the millisecond, then a level or a state.
LINE = r"\d\d:\d\d:\d\d\.\d{3}"


def lines(log):
    return log.splitlines()


def test_a_failed_steps_log_holds_its_lines_and_traceback_in_the_api(client):
    workflow = jobs.start("ESG-TC01", OVERFLOW)
    finished = wait_until_finished(client, f"/api/workflows/{workflow.id}/")
    div, mul, add, sub = finished["steps"]
    assert mul["state"] == "FAILURE"
    log = mul["log"]
    # The step's own first line, LoggedTask's, the step function's, then its end.
    assert re.match(rf"{LINE} STARTED on [\w-]+@", lines(log)[0]), log
    assert re.search(
        rf"^{LINE} INFO started with args=\(\) kwargs=\{{'div_result': 1e\+308", log, re.M
    )
    assert re.search(rf"^{LINE} INFO 1e\+308 \* 10\.0$", log, re.M), log
    assert re.search(
        rf"^{LINE} FAILURE OverflowError: the result of step 'mul' is too large for a number: inf$",
        log,
        re.M,
    ), log
    assert "Traceback (most recent call last):" in log
    assert 'in mul\n    return {"mul_result": finite("mul", x * y)}' in log
    assert log.rstrip().endswith(
        "OverflowError: the result of step 'mul' is too large for a number: inf"
    )
    # The step that succeeded: its lines and its result; the steps that did not run: nothing.
    assert re.search(rf"^{LINE} INFO 1e\+308 / 1$", div["log"], re.M), div["log"]
    assert re.search(rf"^{LINE} SUCCESS \{{'div_result': 1e\+308\}}$", div["log"], re.M)
    assert "Traceback" not in div["log"]
    assert add["log"] == sub["log"] == ""
    # Each change of state, in order, with its time.
    assert [change["state"] for change in div["history"]] == ["STARTED", "SUCCESS"]
    assert [change["state"] for change in mul["history"]] == ["STARTED", "FAILURE"]
    assert add["history"] == sub["history"] == []
    assert datetime.fromisoformat(mul["history"][-1]["at"]) == datetime.fromisoformat(
        mul["finished_at"]
    )
    assert datetime.fromisoformat(div["history"][-1]["at"]) <= datetime.fromisoformat(
        mul["history"][0]["at"]
    )


def test_the_page_shows_the_failed_steps_log_open_and_the_timeline_of_every_step(client):
    workflow = jobs.start("ESG-TC01", OVERFLOW)
    wait_until_finished(client, f"/api/workflows/{workflow.id}/")
    page = client.get(f"/workflows/{workflow.id}/").content.decode()
    # The failed step's log is open, its traceback in it; the others' are closed.
    opened = re.search(r'<details class="log" id="log-2" open>(.*?)</details>', page, re.S)
    assert opened, page
    log = html.unescape(opened.group(1))
    assert "2 mul" in log and "Traceback (most recent call last):" in log
    assert "FAILURE OverflowError: the result of step 'mul' is too large for a number: inf" in log
    assert '<details class="log" id="log-1">' in page
    assert re.search(r'<details class="log" id="log-3">.*?Nothing logged yet', page, re.S)
    # The timeline: div queued then succeeded, mul queued then failed, the rest not run.
    rows = dict(re.findall(r'<tr data-timeline="(\w+)">(.*?)</tr>', page, re.S))
    kinds = {name: re.findall(r'data-kind="(\w+)"', row) for name, row in rows.items()}
    assert kinds == {
        "div": ["queued", "success"],
        "mul": ["queued", "failure"],
        "add": [],
        "sub": [],
    }
    # Its text alternative: every row in words.
    label = re.search(r'aria-label="([^"]*)"', rows["mul"]).group(1)
    assert re.fullmatch(
        r"mul, FAILURE: queued: \d+\.\d s, [\d:]{8} to [\d:]{8}; "
        r"ran and failed: \d+\.\d s, [\d:]{8} to [\d:]{8}",
        html.unescape(label),
    ), label
    assert "add, NOT_RUN: not run, since a step before it failed" in html.unescape(rows["add"])
    # A legend in words, and the axis's ticks in seconds.
    assert "waiting to retry" in page and "ran and succeeded" in page
    assert re.search(r"<text [^>]*>0 s</text>", page)


def test_the_bars_of_a_finished_workflow_follow_its_steps_along_one_axis(client):
    workflow = jobs.start("ESG-TC02", {"div": [4, 2], "mul": [3]})
    wait_until_finished(client, f"/api/workflows/{workflow.id}/")
    workflow = Workflow.objects.prefetch_related("steps").get(pk=workflow.pk)
    timeline = timelines.draw(workflow, workflow.summary, now=datetime.now().astimezone())
    (div_queued, div_ran), (mul_queued, mul_ran) = (row.bars for row in timeline.rows)
    # The workflow's creation is the origin; each span starts where the one before ended.
    assert float(div_queued.x) == 0
    for before, after in [(div_queued, div_ran), (div_ran, mul_queued), (mul_queued, mul_ran)]:
        assert float(after.x) == pytest.approx(float(before.x) + float(before.width), abs=0.5)
    # A finished workflow's axis ends with its last step.
    assert float(mul_ran.x) + float(mul_ran.width) == pytest.approx(100, abs=0.01)
    # Each step ran for its 0.3 s, and a little more.
    for ran in (div_ran, mul_ran):
        assert re.match(r"ran and succeeded: (0\.[3-9]|1\.\d) s, ", ran.title), ran.title
    assert all(row.state == "SUCCESS" for row in timeline.rows)


def test_a_steps_log_keeps_its_last_characters_and_says_how_many_were_cut(client):
    workflow = Workflow.objects.create(testcase="ESG-TC02", job_data={"div": [4, 2], "mul": [3]})
    task_id = str(uuid.uuid4())
    Step.objects.create(workflow=workflow, position=0, name="div", task_id=task_id)
    with override_settings(STEP_LOG_MAX_CHARS=100):
        assert records.begin(task_id, redelivered=False) == records.RUN
        records.retry(task_id, "an error that passes", steplogs.Part("a" * 80 + "\n"))
        records.begin(task_id, redelivered=False)
        # The second run cut 5 characters of its own before it wrote.
        records.succeed(task_id, {"div_result": 2.0}, steplogs.Part("b" * 60 + "\n", cut=5))
    step = Step.objects.get(task_id=task_id)
    assert step.log == "a" * 38 + "\n" + "b" * 60 + "\n"
    assert step.log_cut == 42 + 5
    answer = client.get(f"/api/workflows/{workflow.id}/").json()["steps"][0]
    assert answer["log"] == ("[47 earlier characters cut: the log keeps its last 100]\n" + step.log)
    assert [change["state"] for change in answer["history"]] == [
        "STARTED",
        "RETRY",
        "STARTED",
        "SUCCESS",
    ]


def test_a_runs_capture_keeps_its_own_threads_lines_and_goes_away_after():
    """The threads pool runs several steps in one process: each run keeps its own lines."""
    task_logger = get_task_logger("runs.tasks")
    other = logging.getLogger("a.library")
    root = logging.getLogger()
    handlers = (list(root.handlers), list(logging.getLogger("celery.task").handlers))
    levels = (task_logger.level, other.level)
    task_logger.setLevel(logging.INFO)
    other.setLevel(logging.INFO)
    captured = {}
    ready = threading.Barrier(2)

    def run(name):
        with steplogs.capture(limit=1000) as log:
            ready.wait()
            task_logger.info("%s: a task logger's line", name)
            ready.wait()
            other.warning("%s: another logger's line", name)
            try:
                raise ZeroDivisionError("division by zero")
            except ZeroDivisionError:
                task_logger.exception("%s: an error", name)
        captured[name] = log.part().text

    try:
        threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        task_logger.setLevel(levels[0])
        other.setLevel(levels[1])
    for name in ("one", "two"):
        text = captured[name]
        assert re.fullmatch(
            rf"{LINE} INFO {name}: a task logger's line\n"
            rf"{LINE} WARNING {name}: another logger's line\n"
            rf"{LINE} ERROR {name}: an error\nTraceback \(most recent call last\):\n.*"
            rf"ZeroDivisionError: division by zero\n",
            text,
            re.S,
        ), text
    # Nothing is left behind on the loggers.
    assert (list(root.handlers), list(logging.getLogger("celery.task").handlers)) == handlers


def test_a_run_that_logs_too_much_keeps_its_last_lines():
    log = steplogs.RunLog(limit=50)
    for number in range(20):
        log.note("INFO", f"line {number:02}")
    part = log.part()
    assert len(part.text) == 50
    assert part.text.endswith("INFO line 19\n")
    assert part.cut == 20 * len(steplogs.line("INFO", "line 00", datetime.now())) - 50


def test_a_workflow_that_has_not_started_has_a_page_with_its_timeline(client):
    workflow = Workflow.objects.create(testcase="ESG-TC02", job_data={"div": [4, 2], "mul": [3]})
    for position, name in enumerate(("div", "mul")):
        Step.objects.create(
            workflow=workflow, position=position, name=name, task_id=str(uuid.uuid4())
        )
    page = client.get(f"/workflows/{workflow.id}/").content.decode()
    rows = dict(re.findall(r'<tr data-timeline="(\w+)">(.*?)</tr>', page, re.S))
    assert re.findall(r'data-kind="(\w+)"', rows["div"]) == ["queued"]
    assert "queued: " in rows["div"] and " so far, " in rows["div"]
    assert re.findall(r'data-kind="(\w+)"', rows["mul"]) == []
    assert "mul, PENDING: waits for the step before it to end" in html.unescape(rows["mul"])


def test_a_resumed_workflow_carries_its_steps_logs_and_draws_them_where_they_ran(client):
    failed = jobs.start("ESG-TC01", OVERFLOW)
    wait_until_finished(client, f"/api/workflows/{failed.id}/")
    resumed = jobs.resume(jobs.refreshed(failed))
    answer = wait_until_finished(client, f"/api/workflows/{resumed.id}/")
    div = answer["steps"][0]
    assert div["task_id"] is None and re.search(rf"^{LINE} INFO 1e\+308 / 1$", div["log"], re.M)
    assert [change["state"] for change in div["history"]] == ["STARTED", "SUCCESS"]
    page = client.get(f"/workflows/{resumed.id}/").content.decode()
    rows = dict(re.findall(r'<tr data-timeline="(\w+)">(.*?)</tr>', page, re.S))
    # div ran in the workflow it was carried from: it did not wait in this one.
    assert re.findall(r'data-kind="(\w+)"', rows["div"]) == ["success"]
    assert re.findall(r'data-kind="(\w+)"', rows["mul"]) == ["queued", "failure"]
