"""The API's steps when things go wrong inside a worker: a killed process, a hung step, errors.

Each fault is caused for real, on the worker this module starts (with the
steps of ``faulty_steps.py`` beside the real ones), and each test checks what
a reader cares about: how every workflow ends, and what the API says of each
step. These faults happen on either stack, so the module runs on RabbitMQ +
Redis and again on the embedded stack; a broker, a result store or a whole
worker that dies are the matter of ``test_api_outages.py``.
"""

import re
import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from runs import jobs, repair, testcases
from runs.models import Step, Workflow
from sprout import REPO
from tests.support.faults import kill_pool_process
from tests.support.workflows import wait_for_state, wait_until_finished

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("api"),
    pytest.mark.starts("faults in the API's worker: killed pool processes, hung steps"),
]

# The API's worker, with the faulty steps too; errors that can pass are tried
# again for 3 s after the first.
API_WORKER_ENV = {"TASK_DELAY": "0.5", "PYTHONPATH": str(REPO / "tests"), "STEP_RETRY_FOR": "3"}
API_WORKER_OPTIONS = ["--include", "faulty_steps"]

TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}


@pytest.fixture
def testcase(monkeypatch):
    """Declare a test case of the given steps, as testcases.py would; returns its name."""

    def declare(*steps):
        name = "FAULT-" + "-".join(steps)
        monkeypatch.setitem(testcases.TESTCASES, name, testcases.Testcase(steps, {}))
        return name

    return declare


def kinds_on_the_timeline(client, workflow):
    """Each step's spans on the timeline of the workflow's page, by kind, by step."""
    page = client.get(f"/workflows/{workflow.id}/").content.decode()
    rows = re.findall(r'<tr data-timeline="(\w+)">(.*?)</tr>', page, re.S)
    return {name: re.findall(r'data-kind="(\w+)"', row) for name, row in rows}


def follow(client, workflow):
    return wait_until_finished(client, f"/api/workflows/{workflow.id}/", timeout=60)


def wait_for_step(workflow, position, states):
    return wait_for_state(workflow.steps.get(position=position), states, timeout=30)


def test_a_pool_process_killed_mid_step_runs_the_step_again_and_the_workflow_finishes(client, api):
    workflow = jobs.start("ESG-TC01", TC01)
    mul = wait_for_step(workflow, 1, {"STARTED"})
    assert kill_pool_process(api) == mul.task_id
    finished = follow(client, workflow)
    assert (finished["state"], finished["result"]) == ("SUCCESS", 10.0)
    assert [step["tries"] for step in finished["steps"]] == [1, 2, 1, 1]
    assert Step.objects.get(task_id=mul.task_id).lost_runs == 1
    # The killed run's own lines are lost with it; the step's log and history say so.
    mul = finished["steps"][1]
    assert [change["state"] for change in mul["history"]] == [
        "STARTED", "LOST", "STARTED", "SUCCESS",
    ]  # fmt: skip
    assert re.match(
        r"\d\d:\d\d:\d\d\.\d{3} LOST the run before this one ended with its worker process, "
        r"before it could record its end: what it logged is lost\n"
        r"\d\d:\d\d:\d\d\.\d{3} STARTED on ",
        mul["log"],
    ), mul["log"]
    assert mul["log"].count("INFO started with args") == 1
    assert kinds_on_the_timeline(client, workflow)["mul"] == ["queued", "lost", "success"]


def test_a_step_that_kills_its_process_every_time_fails_after_three_runs(client, api, testcase):
    workflow = jobs.launch(
        Workflow(testcase=testcase("div", "poison"), job_data=TC01), ["div", "poison"]
    )
    finished = follow(client, workflow)
    assert finished["state"] == "FAILURE"
    div, poison = finished["steps"]
    assert (div["state"], poison["state"], poison["tries"]) == ("SUCCESS", "FAILURE", 3)
    assert poison["error"] == (
        "WorkerLostTooOften: the process running step 'poison' ended 3 times before the step "
        "could finish: the step is not run again"
    )
    # The worker itself lived on, and goes on with other work.
    assert follow(client, jobs.start("ESG-TC02", {"div": [4, 2], "mul": [3]}))["result"] == 6.0


def test_a_hung_step_fails_at_its_soft_time_limit(client, testcase):
    workflow = jobs.launch(
        Workflow(testcase=testcase("div", "hang"), job_data=TC01), ["div", "hang"]
    )
    finished = follow(client, workflow)
    hang = finished["steps"][1]
    assert (finished["state"], hang["state"], hang["tries"]) == ("FAILURE", "FAILURE", 1)
    assert hang["error"] == (
        "SoftTimeLimitExceeded: the step ran past its soft time limit and was stopped"
    )


def test_a_step_that_ignores_its_soft_time_limit_is_killed_at_the_hard_one(client, testcase):
    workflow = jobs.launch(
        Workflow(testcase=testcase("div", "stubborn"), job_data=TC01), ["div", "stubborn"]
    )
    finished = follow(client, workflow)
    stubborn = finished["steps"][1]
    assert (finished["state"], stubborn["state"], stubborn["tries"]) == ("FAILURE", "FAILURE", 1)
    assert stubborn["error"] == (
        "TimeLimitExceeded: the step ran past its hard time limit (2 s) and was stopped"
    )
    # The worker's main process recorded the end; the killed process's lines are lost.
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d\.\d{3} FAILURE TimeLimitExceeded: the step ran past its hard time "
        r"limit \(2 s\) and was stopped \(recorded after the run, whose own lines are lost\)\n",
        stubborn["log"],
    ), stubborn["log"]


def test_a_transient_error_retries_with_backoff_until_it_passes(client, testcase, tmp_path):
    outage = tmp_path / "the result store is down"
    outage.touch()
    job_data = {**TC01, "flaky": str(outage)}
    workflow = jobs.launch(
        Workflow(testcase=testcase("div", "flaky"), job_data=job_data), ["div", "flaky"]
    )
    # The API shows the step waiting to retry, and why.
    deadline = time.monotonic() + 30
    while (flaky := client.get(f"/api/workflows/{workflow.id}/").json()["steps"][1])[
        "state"
    ] != "RETRY":
        assert time.monotonic() < deadline, flaky
        time.sleep(0.02)
    # The first wait: from half of 1 s to all of it.
    assert re.fullmatch(
        r"ConnectionError: Connection refused \(while the test says so\); "
        r"trying again in (0\.[5-9]|1\.0) s \(for 3 s at most after the first error\)",
        flaky["error"],
    ), flaky["error"]
    outage.unlink()
    finished = follow(client, workflow)
    flaky = finished["steps"][1]
    assert (finished["state"], flaky["state"], flaky["error"]) == ("SUCCESS", "SUCCESS", None)
    assert flaky["tries"] >= 2
    assert finished["result"] == 2.0
    # Every try is in the step's history and its log, and on the timeline: each run
    # that erred, each wait, then the run that succeeded.
    changes = [change["state"] for change in flaky["history"]]
    assert changes == ["STARTED", "RETRY"] * (flaky["tries"] - 1) + ["STARTED", "SUCCESS"]
    retried = re.findall(r"^\d\d:\d\d:\d\d\.\d{3} RETRY (.*)$", flaky["log"], re.M)
    assert len(retried) == flaky["tries"] - 1, flaky["log"]
    assert retried[0].startswith("ConnectionError: Connection refused (while the test says so)")
    assert flaky["log"].count(" STARTED on ") == flaky["tries"]
    assert re.search(r" SUCCESS \{'flaky_result': 2\.0\}\n$", flaky["log"]), flaky["log"]
    assert kinds_on_the_timeline(client, workflow)["flaky"] == (
        ["queued"] + ["erred", "retry"] * (flaky["tries"] - 1) + ["success"]
    )


def test_a_transient_error_that_outlasts_its_retry_budget_fails_the_step(
    client, testcase, tmp_path
):
    # The error never passes: the step tries again, waiting longer each time,
    # until 3 s (STEP_RETRY_FOR) have passed since its first error.
    outage = tmp_path / "the result store is down for good"
    outage.touch()
    job_data = {**TC01, "flaky": str(outage)}
    workflow = jobs.launch(
        Workflow(testcase=testcase("div", "flaky"), job_data=job_data), ["div", "flaky"]
    )
    finished = follow(client, workflow)
    flaky = finished["steps"][1]
    assert (finished["state"], flaky["state"]) == ("FAILURE", "FAILURE")
    assert re.fullmatch(
        r"ConnectionError: Connection refused \(while the test says so\); "
        r"gave up after [3-9] s of tries \(STEP_RETRY_FOR\)",
        flaky["error"],
    ), flaky["error"]
    # Waits of 0.5 to 1 s, then 1 to 2 s, then 2 to 4 s: three tries at least, and 3 s.
    assert flaky["tries"] >= 3
    started, ended = (
        datetime.fromisoformat(flaky[moment]) for moment in ("started_at", "finished_at")
    )
    assert (ended - started).total_seconds() >= 3


@pytest.mark.parametrize(
    ("job_data", "failed", "error"),
    [
        pytest.param(
            {"div": [4, 0], "mul": [3]}, "div", "ZeroDivisionError: division by zero",
            id="division by zero",
        ),
        pytest.param(
            {"div": [4, 2]}, "mul",
            "LookupError: job_data has no key 'mul': the operands of step 'mul' are missing",
            id="missing operands",
        ),
    ],
)  # fmt: skip
def test_a_permanent_error_fails_the_step_at_once(client, job_data, failed, error):
    # The API refuses such job data (400); sent anyway, it fails on the worker, once.
    finished = follow(client, jobs.start("ESG-TC02", job_data))
    step = next(step for step in finished["steps"] if step["name"] == failed)
    assert (finished["state"], step["state"], step["error"], step["tries"]) == (
        "FAILURE",
        "FAILURE",
        error,
        1,
    )


def test_the_repair_looks_only_at_steps_that_should_have_moved_and_have_not():
    """Which records ``repair.stalled_steps`` finds; what it does with them is caused
    for real in ``test_api_outages.py``."""
    long_ago = timezone.now() - timedelta(minutes=10)
    just_now = timezone.now() - timedelta(seconds=5)

    def workflow(*steps, cancelled=False):
        """A workflow whose steps are (state, when its row last moved, when it finished)."""
        created = Workflow.objects.create(
            testcase="ESG-TC01", job_data=TC01, cancelled_at=long_ago if cancelled else None
        )
        rows = Step.objects.bulk_create(
            Step(workflow=created, position=position, name=name, task_id=str(uuid.uuid4()),
                 state=state, finished_at=finished)
            for position, (name, (state, _, finished)) in enumerate(zip(TC01, steps, strict=False))
        )  # fmt: skip
        for row, (_, moved, _) in zip(rows, steps, strict=True):
            Step.objects.filter(pk=row.pk).update(updated_at=moved)
        return [row.task_id for row in rows]

    first = workflow(("PENDING", long_ago, None), ("PENDING", long_ago, None))
    after_a_success = workflow(
        ("SUCCESS", long_ago, long_ago), ("STARTED", long_ago, None), ("PENDING", long_ago, None)
    )
    moving = workflow(("SUCCESS", long_ago, long_ago), ("RETRY", just_now, None))
    next_one_just_due = workflow(("SUCCESS", just_now, just_now), ("PENDING", long_ago, None))
    after_a_failure = workflow(("FAILURE", long_ago, long_ago), ("PENDING", long_ago, None))
    cancelled = workflow(("PENDING", long_ago, None), cancelled=True)
    stalled = {step.task_id for step in repair.stalled_steps(after=60)}
    assert stalled == {first[0], after_a_success[1]}
    assert not stalled & {*moving, *next_one_just_due, *after_a_failure, *cancelled}
