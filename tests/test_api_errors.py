"""The workflows API's answers to bad input and to missing services: JSON, naming what is wrong.

Every bad input gets a 4xx whose JSON body names the field and the reason;
none starts a workflow. A broker or result store that cannot be reached gets
a 503 that says which. Without a secret key, the API does not serve at all.
"""

import json
import os
import subprocess
import sys
import uuid
from urllib.parse import quote

import pytest
from django.test import RequestFactory

from runs import exceptions, jobs, testcases
from runs.serializers import job_data_errors
from sprout.api import API

pytestmark = pytest.mark.django_db

TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
TC02 = {"div": [4, 2], "mul": [3]}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def no_workflow_starts(monkeypatch):
    """Fail any test here that would start a workflow: bad input never reaches the broker."""

    def refuse(testcase, job_data):
        raise AssertionError(f"a workflow was started for {testcase} {job_data}")

    monkeypatch.setattr(jobs, "start", refuse)


def body(testcase="ESG-TC02", job_data=None, **fields):
    return {"testcase": testcase, "job_data": TC02 if job_data is None else job_data, **fields}


def form(**fields):
    return "&".join(f"{name}={value}" for name, value in fields.items())


# (method, path, data, content type, expected status, field named, words of the reason)
BAD_REQUESTS = [
    pytest.param(
        "post", "/api/workflows/", {"job_data": TC02}, JSON, 400, "testcase", "required",
        id="testcase missing",
    ),
    pytest.param(
        "post", "/api/workflows/", body("ESG-TC99"), JSON, 400, "testcase",
        'unknown test case "ESG-TC99": choose one of ESG-TC01, ESG-TC02, ESG-TC03',
        id="testcase unknown",
    ),
    pytest.param(
        "post", "/api/workflows/", body(5), JSON, 400, "testcase", "unknown test case",
        id="testcase not a string",
    ),
    pytest.param(
        "post", "/api/workflows/", {"testcase": "ESG-TC02"}, JSON, 400, "job_data", "required",
        id="job_data missing",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data=[4, 2]), JSON, 400, "job_data",
        "must be a JSON object that maps each step to its operands, not an array",
        id="job_data an array",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data=42), JSON, 400, "job_data", "not a number",
        id="job_data a number",
    ),
    pytest.param(
        "post", "/api/workflows/", {"testcase": "ESG-TC02", "job_data": None}, JSON, 400,
        "job_data", "may not be null",
        id="job_data null",
    ),
    pytest.param(
        "post", "/", form(testcase="ESG-TC02", job_data='{"div": [4, 2], "mul": [3]'),
        FORM, 400, "job_data", "is not valid JSON",
        id="form job_data not JSON",
    ),
    pytest.param(
        "post", "/", form(testcase="ESG-TC02", job_data="[4, 2]"), FORM, 400,
        "job_data", "must be a JSON object",
        id="form job_data an array",
    ),
    pytest.param(
        "post", "/", form(testcase="ESG-TC02", job_data='{"div": [NaN, 2], "mul": [3]}'),
        FORM, 400, "job_data", "NaN is not a JSON value",
        id="form job_data NaN",
    ),
    pytest.param(
        "post", "/", form(testcase="ESG-TC02"), FORM, 400, "job_data", "required",
        id="form job_data missing",
    ),
    pytest.param(
        "post", "/", form(testcase="ESG-TC02", jobdata='{"div": [4, 2], "mul": [3]}'), FORM, 400,
        "jobdata", "unknown field: a workflow starts from testcase and job_data only",
        id="form field unknown",
    ),
    pytest.param(
        "post", "/api/workflows/", body(note="mine"), JSON, 400,
        "note", "unknown field",
        id="field unknown",
    ),
    pytest.param(
        # The API takes JSON; the old tutorial's form goes to the site root.
        "post", "/api/workflows/", form(testcase="ESG-TC02", job_data='{"div": [4, 2], "mul": [3]}'),
        FORM, 415, "detail", "Unsupported media type",
        id="form to the API",
    ),
    pytest.param(
        "post", "/api/workflows/", body("ESG-TC01", {"div": [4, 2], "add": [6], "sub": [2]}), JSON,
        400, "job_data", "mul: missing: step 'mul' of ESG-TC01 needs a list of 1 number",
        id="step missing",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={**TC02, "add": [6]}), JSON, 400, "job_data",
        "add: ESG-TC02 has no step 'add': its steps are div, mul",
        id="step extra",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4], "mul": [3]}), JSON, 400, "job_data",
        "div: must hold 2 numbers, not 1",
        id="first step one operand",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, 2], "mul": [3, 4]}), JSON, 400,
        "job_data", "mul: must hold 1 number, not 2",
        id="later step two operands",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, 2], "mul": []}), JSON, 400, "job_data",
        "mul: must hold 1 number, not 0",
        id="later step no operand",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": "4, 2", "mul": [3]}), JSON, 400,
        "job_data", "div: must be a list of 2 numbers, not a string",
        id="operands not a list",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, 2], "mul": ["3"]}), JSON, 400,
        "job_data", "mul: operand 1 must be a number, not a string",
        id="operand a string",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, 2], "mul": [True]}), JSON, 400,
        "job_data", "mul: operand 1 must be a number, not true",
        id="operand a boolean",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, None], "mul": [3]}), JSON, 400,
        "job_data", "div: operand 2 must be a number, not null",
        id="operand null",
    ),
    pytest.param(
        "post", "/api/workflows/", '{"testcase": "ESG-TC02", "job_data": {"div": [1e400, 2], "mul": [3]}}',
        JSON, 400, "job_data", "div: operand 1 must be a finite number",
        id="operand overflows",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, 0], "mul": [3]}), JSON, 400,
        "job_data", "div: operand 2 is the divisor and must not be 0",
        id="divisor 0",
    ),
    pytest.param(
        "post", "/api/workflows/", body(job_data={"div": [4, 0.0], "mul": [3]}), JSON, 400,
        "job_data", "div: operand 2 is the divisor and must not be 0",
        id="divisor 0.0",
    ),
    pytest.param(
        "post", "/api/workflows/", '{"testcase": "ESG-TC02", "job_data": ', JSON, 400, "detail",
        "JSON parse error",
        id="body not JSON",
    ),
    pytest.param(
        "post", "/api/workflows/", '{"testcase": "ESG-TC02", "job_data": {"div": [NaN, 2]}}', JSON,
        400, "detail", "JSON parse error",
        id="body with NaN",
    ),
    pytest.param(
        "post", "/api/workflows/", "[" * 10_000, JSON, 400, "detail", "nested too deeply",
        id="body nested too deeply",
    ),
    pytest.param(
        "post", "/api/workflows/", "[" * 100_000, JSON, 413, "detail", "the API reads 65536 at most",
        id="body too large",
    ),
    pytest.param(
        "post", "/api/workflows/", [body()], JSON, 400, "non_field_errors",
        "Expected a dictionary",
        id="body an array",
    ),
    pytest.param(
        "post", "/api/workflows/", "testcase ESG-TC02", "text/plain", 415, "detail",
        'Unsupported media type "text/plain"',
        id="body plain text",
    ),
    pytest.param(
        "post", "/", form(testcase="ESG-TC02", job_data='{"div": [4, 0], "mul": [3]}'), FORM, 400,
        "job_data", "divisor",
        id="tutorial post divisor 0",
    ),
    pytest.param(
        "post", "/", form(job_data='{"div": [4, 2], "mul": [3]}'), FORM, 400, "testcase",
        "required",
        id="tutorial post testcase missing",
    ),
    pytest.param(
        "get", "/", form(task_list='["e2f970f6-52ed-48fe-ad4c-93c31d312f92"'), FORM, 400,
        "task_list", "is not valid JSON",
        id="task_list not JSON",
    ),
    pytest.param(
        "get", "/", form(task_list='{"id": "e2f970f6-52ed-48fe-ad4c-93c31d312f92"}'), FORM, 400,
        "task_list", "must be a JSON array of task ids, not an object",
        id="task_list an object",
    ),
    pytest.param(
        "get", "/?task_list=" + quote('["task-1"]'), None, None, 400, "task_list",
        "item 1 is not one (a task id is a UUID",
        id="task_list not task ids",
    ),
    pytest.param(
        "get", "/", form(task_list="[1, 2]"), FORM, 400, "task_list",
        "must hold task ids as strings: item 1 is a number",
        id="task_list of numbers",
    ),
    pytest.param(
        "get", "/", form(task_list=json.dumps([str(uuid.uuid4()) for _ in range(101)])), FORM, 400,
        "task_list", "holds 101 task ids: ask for 100 at most at once",
        id="task_list too long",
    ),
    pytest.param(
        "get", "/?task_list=nothing", None, None, 400, "task_list", "is not valid JSON",
        id="task_list query not JSON",
    ),
    pytest.param(
        "get", "/api/workflows/?page=two", None, None, 400, "page",
        "a page is a whole number from 1, not 'two'",
        id="page not a number",
    ),
    pytest.param(
        "get", "/api/workflows/?page=0", None, None, 400, "page", "whole number from 1, not '0'",
        id="page 0",
    ),
    pytest.param(
        "get", "/api/workflows/?page=", None, None, 400, "page", "whole number from 1, not ''",
        id="page empty",
    ),
    pytest.param(
        "get", "/api/workflows/?page=last", None, None, 400, "page", "not 'last'",
        id="page last",
    ),
    pytest.param(
        "get", "/api/workflows/?page=%1B&page=1&page=", None, None, 400, "page",
        "given 3 times: give one page number",
        id="page more than once",
    ),
    pytest.param(
        "get", "/api/workflows/?page=2", None, None, 404, "detail",
        "no page 2: That page contains no results",
        id="page past the last",
    ),
    pytest.param(
        "get", "/api/workflows/?page=" + "9" * 5000, None, None, 404, "detail",
        "no page 99999999999999999999…",
        id="page too long for a number",
    ),
    pytest.param(
        "get", f"/api/workflows/{uuid.UUID(int=1)}/", None, None, 404, "detail",
        f"no workflow has the id '{uuid.UUID(int=1)}'",
        id="workflow unknown",
    ),
    pytest.param(
        "get", "/api/workflows/not-an-id/", None, None, 404, "detail",
        "no workflow has the id 'not-an-id'",
        id="workflow id malformed",
    ),
    pytest.param(
        "post", f"/api/workflows/{uuid.UUID(int=1)}/cancel/", None, None, 404, "detail",
        "no workflow has the id",
        id="cancel unknown",
    ),
    pytest.param(
        "get", "/api/testcases/ESG-TC99/", None, None, 404, "detail",
        "no test case is called 'ESG-TC99'",
        id="testcase page unknown",
    ),
    pytest.param(
        "get", "/api/workflows", None, None, 404, "detail",
        "the API's URLs end with a slash: /api/workflows/",
        id="no trailing slash",
    ),
    pytest.param(
        "get", "/nowhere/", None, None, 404, "detail", "not found: /nowhere/",
        id="unknown URL",
    ),
    pytest.param(
        "put", "/api/workflows/", body(), JSON, 405, "detail", 'Method "PUT" not allowed',
        id="method not allowed",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "data", "content_type", "status", "field", "reason"), BAD_REQUESTS
)
def test_bad_input_answers_4xx_naming_the_field_and_the_reason(
    client, method, path, data, content_type, status, field, reason
):
    options = {} if content_type is None else {"data": data, "content_type": content_type}
    response = client.generic(method.upper(), path, **encode(options))
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert field in answer, answer
    assert reason in describe(answer[field]), answer


def encode(options):
    """What the test client sends: dicts and lists as JSON text, strings as they are."""
    if isinstance(options.get("data"), dict | list):
        options = {**options, "data": json.dumps(options["data"])}
    return options


def describe(errors):
    """Errors as one line of text: ``mul: must hold 1 number, not 2``."""
    if isinstance(errors, dict):
        return "; ".join(f"{key}: {describe(value)}" for key, value in errors.items())
    if isinstance(errors, list):
        return "; ".join(describe(error) for error in errors)
    return str(errors)


def test_a_disallowed_host_answers_400_in_json(client):
    response = client.get("/", HTTP_HOST="api.example")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_later_division_by_zero_is_refused_too(monkeypatch):
    monkeypatch.setitem(testcases.TESTCASES, "ESG-TC99", testcases.Testcase(("mul", "div"), {}))
    assert job_data_errors("ESG-TC99", {"mul": [2, 3], "div": [0]}) == {
        "div": ["operand 1 is the divisor and must not be 0"]
    }


def test_an_unexpected_error_answers_json_not_html(client, monkeypatch):
    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr("runs.views.check_services", broken)
    response = client.get("/api/health/")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error: the API's log says more"}
    # Outside DRF's views, Django's own handler answers the same way.
    django_answer = exceptions.server_error(RequestFactory().get("/"))
    assert django_answer.status_code == 500
    assert json.loads(django_answer.content) == response.json()


@pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
def test_the_server_refuses_to_start_without_a_secret_key_unless_debug(entry_point):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    command = [sys.executable, "-c", f"import {entry_point}"]
    refused = subprocess.run(command, cwd=API, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in refused.stderr
    debug = subprocess.run(command, cwd=API, env={**env, "DJANGO_DEBUG": "1"}, capture_output=True)
    assert debug.returncode == 0, debug.stderr
