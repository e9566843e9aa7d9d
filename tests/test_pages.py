"""The workflows pages, as the server renders them: right with JavaScript off.

A real worker runs the steps, as in test_api.py; the browser tests
(test_browser.py) check what the pages do with JavaScript on.
"""

import html
import json
import re
import time

import pytest

from runs import jobs
from runs.models import Workflow
from tests.support.workflows import wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api")]

# Steps of 0.3 s: a worker of the module's own, beside test_api.py's (0.5 s),
# so that the two modules run side by side rather than one after the other.
API_WORKER_ENV = {"TASK_DELAY": "0.3"}
TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}


def text(page):
    """A page's text (a response, or part of one) without its tags, its whitespace squeezed."""
    page = page if isinstance(page, str) else page.content.decode()
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def test_the_list_offers_a_form_with_the_first_test_cases_example(client):
    response = client.get("/workflows/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert '<select id="testcase" name="testcase">' in page
    textarea = re.search(r'<textarea id="job_data"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert json.loads(html.unescape(textarea)) == TC01
    assert "No workflow yet" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_the_form_starts_a_workflow_and_lands_on_its_page(client):
    response = client.post("/workflows/", {"testcase": "ESG-TC01", "job_data": json.dumps(TC01)})
    assert response.status_code == 302
    workflow = Workflow.objects.get()
    assert response["Location"] == f"/workflows/{workflow.id}/"
    finished = wait_until_finished(client, f"/api/workflows/{workflow.id}/")
    assert finished["links"]["page"] == f"http://testserver/workflows/{workflow.id}/"
    page = text(client.get(response["Location"]))
    assert "State: SUCCESS · Result: 10.0" in page
    assert "4/4 steps succeeded" in page
    for name, result in [("div", "2.0"), ("mul", "6.0"), ("add", "12.0"), ("sub", "10.0")]:
        assert re.search(
            rf"\d {name} SUCCESS {result} 1 \d\d:\d\d:\d\d \d\d:\d\d:\d\d \d+\.\d s", page
        ), page
    assert "Finished." in page
    assert "Cancel" not in page and "Resume" not in page and "Relaunch" in page
    listed = text(client.get("/workflows/"))
    assert re.search(rf"{str(workflow.id)[:8]} ESG-TC01 SUCCESS 4/4 \d+ minutes? ago", listed), (
        listed
    )


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"testcase": "ESG-TC99", "job_data": "{}"}, "testcase", 'testcase unknown test case "ESG-TC99": choose one of ESG-TC01, ESG-TC02, ESG-TC03'),
        ({"testcase": "ESG-TC02", "job_data": '{"div": [4, 0], "mul": [3]}'}, "job_data", "job_data div: operand 2 is the divisor and must not be 0"),
        ({"testcase": "ESG-TC02", "job_data": '{"div": [4, 2]'}, "job_data", "job_data is not valid JSON: Expecting ',' delimiter: line 1 column 15 (char 14)"),
        ({"testcase": "ESG-TC02"}, "job_data", "job_data This field is required."),
    ],
)  # fmt: skip
def test_a_wrong_form_says_what_is_wrong_next_to_the_field_and_starts_nothing(
    client, form, field, message
):
    response = client.post("/workflows/", form)
    assert response.status_code == 400
    page = response.content.decode()
    errors = re.search(rf'<ul class="error" id="{field}-errors">(.*?)</ul>', page, re.S).group(1)
    assert message in text(errors), errors
    assert f'aria-describedby="{field}-errors"' in page
    assert Workflow.objects.count() == 0
    # What was typed is kept, to be corrected.
    if "job_data" in form:
        assert form["job_data"].replace('"', "&quot;") in page


def test_a_failed_workflow_shows_its_error_and_the_steps_that_did_not_run(client):
    workflow = jobs.start("ESG-TC01", {"div": [1e308, 1], "mul": [10.0], "add": [6], "sub": [2]})
    wait_until_finished(client, f"/api/workflows/{workflow.id}/")
    page = text(client.get(f"/workflows/{workflow.id}/"))
    assert "State: FAILURE · step 'mul' failed: OverflowError:" in page
    assert re.search(r"3 add NOT_RUN 0 ", page) and re.search(r"4 sub NOT_RUN 0 ", page)
    assert "1/4 steps succeeded" in page
    assert "Resume" in page and "Cancel" not in page


def test_cancel_from_the_page_and_a_finished_workflow_says_why_not(client):
    workflow = jobs.start("ESG-TC01", TC01)
    response = client.post(f"/workflows/{workflow.id}/cancel/")
    assert (response.status_code, response["Location"]) == (302, f"/workflows/{workflow.id}/")
    assert "State: REVOKED" in text(client.get(response["Location"]))
    done = jobs.start("ESG-TC02", {"div": [4, 2], "mul": [3]})
    wait_until_finished(client, f"/api/workflows/{done.id}/")
    refused = client.post(f"/workflows/{done.id}/cancel/")
    assert refused.status_code == 409
    assert "the workflow has already finished (SUCCESS): nothing to cancel" in text(refused)


def test_a_cancelled_workflow_offers_resume_only_once_its_running_step_has_ended(client):
    # Cancel while div runs (0.3 s); a try in which div ended first starts another workflow.
    for _ in range(5):
        workflow = jobs.start("ESG-TC01", TC01)
        path = f"/api/workflows/{workflow.id}/"
        while client.get(path).json()["steps"][0]["state"] == "PENDING":
            time.sleep(0.02)
        client.post(f"/workflows/{workflow.id}/cancel/")
        page = text(client.get(f"/workflows/{workflow.id}/"))
        if re.search(r" 1 div STARTED ", page):
            break
    else:
        pytest.fail("div had ended before the cancel, five times in a row")
    # Cancelled, with a step still running: nothing to cancel, and not yet anything to resume.
    assert "State: REVOKED" in page
    assert "Cancel" not in page and "Resume" not in page
    deadline = time.monotonic() + 10
    while any(step["state"] == "STARTED" for step in client.get(path).json()["steps"]):
        assert time.monotonic() < deadline, "div did not end"
        time.sleep(0.05)
    page = text(client.get(f"/workflows/{workflow.id}/"))
    assert re.search(r" 1 div SUCCESS ", page) and re.search(r" 2 mul REVOKED ", page)
    assert "Resume" in page and "Cancel" not in page


def test_resume_from_the_page_lands_on_the_new_workflow(client):
    failed = jobs.start("ESG-TC01", {"div": [1e308, 1], "mul": [10.0], "add": [6], "sub": [2]})
    wait_until_finished(client, f"/api/workflows/{failed.id}/")
    response = client.post(f"/workflows/{failed.id}/resume/")
    resumed = Workflow.objects.get(resumed_from=failed)
    assert (response.status_code, response["Location"]) == (302, f"/workflows/{resumed.id}/")
    assert "Resumed from" in text(client.get(response["Location"]))


def test_the_live_part_is_the_same_html_as_in_the_page(client):
    workflow = jobs.start("ESG-TC02", {"div": [4, 2], "mul": [3]})
    wait_until_finished(client, f"/api/workflows/{workflow.id}/")

    def unmasked(page):  # each answer masks the CSRF token anew
        return re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "TOKEN", page.content.decode())

    live = unmasked(client.get(f"/workflows/{workflow.id}/live/")).strip()
    assert live.startswith('<section id="live"') and 'data-finished="true"' in live
    assert live in unmasked(client.get(f"/workflows/{workflow.id}/"))


def test_an_unknown_workflow_or_action_answers_404_and_a_wrong_method_405(client):
    assert client.get("/workflows/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.post("/workflows/00000000-0000-0000-0000-000000000000/cancel/").status_code == 404
    assert client.get("/workflows/not-an-id/").status_code == 404
    workflow = jobs.start("ESG-TC02", {"div": [4, 2], "mul": [3]})
    assert client.post(f"/workflows/{workflow.id}/explode/").status_code == 404
    assert client.get(f"/workflows/{workflow.id}/cancel/").status_code == 405
    assert client.delete("/workflows/").status_code == 405


def test_the_pages_refuse_a_form_sent_from_another_site(user):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/workflows/", {"testcase": "ESG-TC02", "job_data": "{}"}).status_code == 403
    # A browser's session is the pages' way in; DRF asks the same token of
    # the API when it comes with a session, so another site cannot use it.
    body = {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}}
    refused = strict.post("/api/workflows/", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Workflow.objects.count() == 0
    # A program sends its token instead, which no other site can know.
    token = Token.objects.create(user=user)
    assert Client(enforce_csrf_checks=True).post(
        "/api/workflows/", body, content_type="application/json",
        headers={"Authorization": f"Token {token.key}"},
    ).status_code == 202  # fmt: skip


def test_the_form_sent_with_the_pages_own_token_starts_the_workflow(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/workflows/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', page).group(1)
    form = {
        "csrfmiddlewaretoken": token,
        "testcase": "ESG-TC02",
        "job_data": '{"div": [4, 2], "mul": [3]}',
    }
    response = browser.post("/workflows/", form)
    assert response.status_code == 302, text(response)
    assert Workflow.objects.get().job_data == {"div": [4, 2], "mul": [3]}
