"""The API's metrics for Prometheus (api/README.md, "Metrics"), counted where each event happens.

The API runs under gunicorn with two processes, its worker with four pool
processes, each service with a multiprocess directory of its own, as the
compose stack runs them. Four workflows later, what Prometheus would scrape
from each adds up to exactly what happened, whichever process counted it and
whichever answers.
"""

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sprout import DayWorker
from sprout.api import API, FINISHED, ApiServer
from sprout.processes import free_port
from sprout.worker import API_APP, queue_env
from tests.support.days import unique_queue
from tests.support.readme_blocks import readme_block, run_script

pytestmark = pytest.mark.starts(
    "the API under gunicorn with two processes, and its worker with four"
)

TOKEN = "a-metrics-token-for-the-test"
# Each step sleeps 1 s: a workflow of two steps runs for 2 s at least.
TASK_DELAY = 1.0

TC02 = {"div": [4, 2], "mul": [3]}
TC03 = {"add": [3, 2], "sub": [1]}
# 1e308 / 1e-308 overflows: the first step fails on the worker, and the workflow with it.
FAILING_TC01 = {"div": [1e308, 1e-308], "mul": [3], "add": [6], "sub": [2]}
STARTS = [("ESG-TC02", TC02), ("ESG-TC02", TC02), ("ESG-TC03", TC03), ("ESG-TC01", FAILING_TC01)]


def scrape(url, token=TOKEN):
    """The samples of a metrics page, parsed as Prometheus parses them: {(name, labels): value}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as page:
        text = page.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name, **labels):
    """A sample's value; 0 for a series that nothing has counted yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """The sum of the samples of ``name`` whose labels include ``labels``, as PromQL's sum()."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def counting_processes(directory):
    """The processes that wrote counts into a multiprocess directory: its files are
    ``<type>_<pid>.db``, one per kind of metric and process."""
    return {path.stem.rpartition("_")[2] for path in directory.glob("*.db")}


def refusal(url, headers):
    """The status, headers and JSON of a request that the API refuses."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
    return refused.value.code, refused.value.headers, json.load(refused.value)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The API under gunicorn (2 processes) and its worker (-c 4), on a queue of their own,
    each counting into a directory of its own; the worker serves its metrics on a port."""
    folder = tmp_path_factory.mktemp("metrics")
    queue = unique_queue("metrics")
    server = ApiServer(
        {
            **queue_env(queue, API_APP),
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "api"),
            "METRICS_TOKEN": TOKEN,
        }
    )
    port = free_port()
    worker = DayWorker(
        "api", folder=API, app=API_APP, queue=queue, concurrency=4,
        env={
            "DATABASE_URL": server.database_url,
            "TASK_DELAY": str(TASK_DELAY),
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "worker"),
            "METRICS_PORT": str(port),
        },
    )  # fmt: skip
    with server:
        try:
            worker.start()
            yield server, f"http://127.0.0.1:{port}/metrics", folder
        finally:
            worker.stop()
            worker.delete_queue()


def start(server, testcase, job_data):
    status, workflow, _ = server.request(
        "POST", "/api/workflows/", {"testcase": testcase, "job_data": job_data}
    )
    assert status == 202, workflow
    return workflow


def wait_until_finished(server, workflows, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [
            server.request("GET", f"/api/workflows/{w['id']}/")[1]["state"] for w in workflows
        ]
        if set(states) <= FINISHED:
            return states
        time.sleep(0.2)
    raise AssertionError(f"the workflows have not finished within {timeout} s: {states}")


def test_four_workflows_are_counted_once_each_across_every_process(stack):
    server, worker_metrics, folder = stack
    api_metrics = f"{server.url}/metrics"
    api_before, worker_before = scrape(api_metrics), scrape(worker_metrics)

    # At once, from four threads: gunicorn's two processes share the requests.
    with ThreadPoolExecutor(4) as pool:
        started = list(pool.map(lambda args: start(server, *args), STARTS))
    # Read from the database as Prometheus asks: the three that succeed run for 2 s at least.
    assert total(scrape(api_metrics), "workflows_running") >= 3

    assert wait_until_finished(server, started) == ["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE"]
    # A worker counts an end once its transaction has committed, just after the API can read it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        worker_after = scrape(worker_metrics)
        ended = total(worker_after, "workflows_ended_total")
        if ended - total(worker_before, "workflows_ended_total") >= 4:
            break
        time.sleep(0.1)
    api_after = scrape(api_metrics)

    def api_delta(name, **labels):
        return value(api_after, name, **labels) - value(api_before, name, **labels)

    def worker_delta(name, **labels):
        return value(worker_after, name, **labels) - value(worker_before, name, **labels)

    # Started: counted by the API's processes, by test case.
    assert {testcase: api_delta("workflows_started_total", testcase=testcase)
            for testcase in ("ESG-TC01", "ESG-TC02", "ESG-TC03")} == {
        "ESG-TC01": 1, "ESG-TC02": 2, "ESG-TC03": 1,
    }  # fmt: skip
    # Ended: counted by the pool processes that ran each last step.
    ended = {
        (testcase, state): worker_delta("workflows_ended_total", testcase=testcase, state=state)
        for testcase in ("ESG-TC01", "ESG-TC02", "ESG-TC03")
        for state in ("SUCCESS", "FAILURE", "REVOKED")
    }
    assert {key: count for key, count in ended.items() if count} == {
        ("ESG-TC02", "SUCCESS"): 2,
        ("ESG-TC03", "SUCCESS"): 1,
        ("ESG-TC01", "FAILURE"): 1,
    }
    for state, count in {"SUCCESS": 3, "FAILURE": 1, "REVOKED": 0}.items():
        assert (
            total(worker_after, "workflows_ended_total", state=state)
            - total(worker_before, "workflows_ended_total", state=state)
        ) == count
    # The steps that ran, each observed once, by step and state; ESG-TC01's later
    # steps never ran.
    steps = {
        ("div", "SUCCESS"): 2, ("mul", "SUCCESS"): 2, ("add", "SUCCESS"): 1,
        ("sub", "SUCCESS"): 1, ("div", "FAILURE"): 1,
    }  # fmt: skip
    for (step, state), count in steps.items():
        labels = {"step": step, "state": state}
        assert worker_delta("step_duration_seconds_count", **labels) == count, labels
        assert worker_delta("step_duration_seconds_bucket", le="+Inf", **labels) == count
    assert total(worker_after, "step_duration_seconds_count") - total(
        worker_before, "step_duration_seconds_count"
    ) == sum(steps.values())
    # Each successful step slept TASK_DELAY; none took a minute.
    assert worker_delta("step_duration_seconds_sum", step="mul", state="SUCCESS") >= 2 * TASK_DELAY
    assert worker_delta("step_duration_seconds_bucket", le="60.0", step="mul", state="SUCCESS") == 2
    # Whole workflows, by test case and state: two steps of 1 s at least each.
    for (testcase, state), count in ended.items():
        labels = {"testcase": testcase, "state": state}
        assert worker_delta("workflow_duration_seconds_count", **labels) == count, labels
    tc02 = worker_delta("workflow_duration_seconds_sum", testcase="ESG-TC02", state="SUCCESS")
    assert tc02 >= 2 * 2 * TASK_DELAY
    # No retry, no lost run; and no end counted twice, by the API too.
    assert total(worker_after, "step_retries_total") == total(worker_before, "step_retries_total")
    assert total(worker_after, "step_lost_runs_total") == 0
    assert total(api_after, "workflows_ended_total") == total(api_before, "workflows_ended_total")
    # Running now: none, for every test case, as the database says.
    for testcase in ("ESG-TC01", "ESG-TC02", "ESG-TC03"):
        assert value(api_after, "workflows_running", testcase=testcase) == 0

    # Several pool processes counted, each into its own file, and the worker
    # added them up; every gunicorn process answers with the same sums.
    assert len(counting_processes(folder / "worker")) >= 2
    assert counting_processes(folder / "api")
    starts = [total(scrape(api_metrics), "workflows_started_total") for _ in range(6)]
    assert starts == [total(api_after, "workflows_started_total")] * 6

    # api/README.md's two requests, as written, to this API and this worker.
    curl = readme_block("api/README.md", 'curl -H "Authorization: Bearer $METRICS_TOKEN"')
    worker_port = worker_metrics.split(":")[-1].split("/")[0]
    printed = run_script(
        curl,
        port=server.port,
        replacing={"localhost:9808": f"localhost:{worker_port}"},
        env={"METRICS_TOKEN": TOKEN},
    ).stdout
    assert 'workflows_started_total{testcase="ESG-TC02"}' in printed
    assert 'workflows_running{testcase="ESG-TC02"} 0.0' in printed
    assert 'step_duration_seconds_count{state="SUCCESS",step="mul"}' in printed


def test_the_apis_metrics_need_the_token_and_stay_out_of_its_schema(stack):
    server, *_ = stack
    url = f"{server.url}/metrics"
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": TOKEN}):
        status, answer_headers, answer = refusal(url, headers)
        assert status == 401, headers
        assert answer_headers["WWW-Authenticate"].startswith("Bearer")
        assert "METRICS_TOKEN" in answer["detail"]
    assert scrape(url)
    status, schema, _ = server.request("GET", "/api/schema/?format=json")
    assert status == 200
    assert not [path for path in schema["paths"] if "metrics" in path]


@pytest.mark.django_db
def test_without_a_token_there_are_no_metrics_and_one_process_serves_its_own(settings):
    # In this process, as under runserver: no PROMETHEUS_MULTIPROC_DIR, Python's default
    # registry, and what this process counted.
    from django.test import Client

    from runs import metrics
    from runs.models import Workflow

    settings.METRICS_TOKEN = ""
    answer = Client().get("/metrics")
    assert answer.status_code == 404
    assert "METRICS_TOKEN" in answer.json()["detail"]

    settings.METRICS_TOKEN = TOKEN
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    def samples():
        text = Client().get("/metrics", headers=bearer).content.decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    before = samples()
    metrics.workflow_started(Workflow(testcase="ESG-TC03"))
    after = samples()
    started = ("workflows_started_total", frozenset({("testcase", "ESG-TC03")}))
    assert after[started] - before.get(started, 0) == 1
    assert after[("workflows_running", frozenset({("testcase", "ESG-TC03")}))] == 0
    # The default registry's own: this process's garbage collector.
    assert any(name.startswith("python_gc_") for name, _ in after)


def test_a_cancelled_workflow_ends_revoked_once_whoever_counts_it(stack):
    # Cancelled while its first step runs, or before: the worker counts the end when that
    # step ends, or the API at the cancel itself. Prometheus adds the two up.
    server, worker_metrics, _ = stack
    api_metrics = f"{server.url}/metrics"

    def revoked(samples):
        return total(samples, "workflows_ended_total", testcase="ESG-TC01", state="REVOKED")

    before = revoked(scrape(api_metrics)) + revoked(scrape(worker_metrics))
    workflow = start(server, "ESG-TC01", {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]})
    status, cancelled, _ = server.request("POST", f"/api/workflows/{workflow['id']}/cancel/")
    assert (status, cancelled["state"]) == (200, "REVOKED")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        steps = server.request("GET", f"/api/workflows/{workflow['id']}/")[1]["steps"]
        if not {step["state"] for step in steps} & {"PENDING", "STARTED", "RETRY"}:
            break
        time.sleep(0.2)
    # The worker counts once its transaction has committed, just after the API can read it.
    while time.monotonic() < deadline:
        api_after, worker_after = scrape(api_metrics), scrape(worker_metrics)
        if revoked(api_after) + revoked(worker_after) - before >= 1:
            break
        time.sleep(0.1)
    assert revoked(api_after) + revoked(worker_after) - before == 1
    # A second cancel changes nothing, and counts nothing.
    assert server.request("POST", f"/api/workflows/{workflow['id']}/cancel/")[0] == 200
    assert revoked(scrape(api_metrics)) == revoked(api_after)
    assert value(api_after, "workflows_running", testcase="ESG-TC01") == 0


@pytest.mark.django_db(transaction=True)
def test_a_count_that_fails_never_stops_the_record_it_counts(monkeypatch, caplog):
    # A metrics directory that a process cannot write, as a restarted container's tmpfs
    # can be, makes prometheus_client's first value of a series raise: here, every one.
    from celery import states
    from django.utils import timezone

    from runs import metrics, records
    from runs.models import Step, Workflow

    def unwritable(*labels):
        raise PermissionError(13, "Permission denied", "/run/metrics/histogram_9.db")

    for metric in (metrics.STEP_DURATION, metrics.WORKFLOWS_ENDED, metrics.LOST_RUNS):
        monkeypatch.setattr(metric, "labels", unwritable)
    workflow = Workflow.objects.create(testcase="ESG-TC02", job_data=TC02)
    for position, name in enumerate(["div", "mul"]):
        Step.objects.create(
            workflow=workflow, position=position, name=name, task_id=f"{workflow.pk}-{name}",
            state=states.SUCCESS if position == 0 else states.STARTED,
            started_at=timezone.now(), tries=1,
        )  # fmt: skip
    task_id = f"{workflow.pk}-mul"
    # A run lost, then the step's end, which ends the workflow: each is recorded.
    assert records.begin(task_id, redelivered=True).run
    assert records.succeed(task_id, {"mul_result": 6.0})
    step = Step.objects.get(task_id=task_id)
    assert (step.state, step.result, step.lost_runs) == (states.SUCCESS, {"mul_result": 6.0}, 1)
    failed = [r for r in caplog.records if r.getMessage().startswith("could not count")]
    assert len(failed) == 3, [r.getMessage() for r in caplog.records]
