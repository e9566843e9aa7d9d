"""The workflows pages in a real browser: headless Chromium against ``make serve``.

Playwright drives Debian's ``chromium`` (see sprout/browser.py). The stack is
``make serve`` itself, in the background, with a database and a queue of its
own and steps that take TASK_DELAY seconds: long enough for the page, which
asks once a second, to see each step run.
"""

import json
import re
import time
import urllib.parse

import pytest

from sprout.browser import chromium
from tests.support import api_stack

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.starts("make serve, and Chromium")]

TASK_DELAY = "1.5"
TC01 = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}
OVERFLOW = {"div": [1e308, 1], "mul": [10.0], "add": [6], "sub": [2]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    env = {"TASK_DELAY": TASK_DELAY}
    with api_stack.served("pages", tmp_path_factory.mktemp("pages"), env) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, served):
    """A fresh page that notes every request it makes and every page it loads."""
    context = browser.new_context(base_url=served.url)
    page = context.new_page()
    page.requests = []
    page.loads = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("load", lambda loaded: page.loads.append(loaded.url))
    yield page
    context.close()
    hosts = {urllib.parse.urlsplit(url).netloc for url in page.requests}
    assert hosts <= {f"127.0.0.1:{served.api_port}"}, page.requests


def start_from_the_form(page, testcase, job_data=None):
    page.goto("/workflows/")
    page.select_option("#testcase", testcase)
    if job_data is not None:
        page.fill("#job_data", json.dumps(job_data))
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]{36}/$"))


def rows(page):
    """Each step's name and state, as the page shows them now."""
    return [
        (row.locator("th").inner_text(), row.locator("td").nth(1).inner_text())
        for row in page.locator("tr[data-step]").all()
    ]


def test_the_form_starts_tc01_and_its_page_shows_every_step_succeed_without_a_reload(page):
    start_from_the_form(page, "ESG-TC01")
    loads = len(page.loads)
    seen = {name: [] for name in ("div", "mul", "add", "sub")}
    deadline = time.monotonic() + 60
    while page.locator("#live").get_attribute("data-finished") != "true":
        assert time.monotonic() < deadline, rows(page)
        for name, state in rows(page):
            if not seen[name] or seen[name][-1] != state:
                seen[name].append(state)
        time.sleep(0.1)
    for name, state in rows(page):
        if seen[name][-1] != state:
            seen[name].append(state)
    # Every step went through STARTED to SUCCESS; the later ones waited first.
    for name, states in seen.items():
        assert states[-2:] == ["STARTED", "SUCCESS"], (name, seen)
    for name in ("mul", "add", "sub"):
        assert seen[name] == ["PENDING", "STARTED", "SUCCESS"], (name, seen)
    assert page.inner_text("#state") == "SUCCESS"
    assert page.inner_text("#result") == "10.0"
    assert page.locator("progress").get_attribute("value") == "4"
    assert len(page.loads) == loads  # no reload: the page updated itself
    assert page.inner_text(".note") == "Finished."
    assert page.locator("button", has_text="Cancel").count() == 0


def timeline(page):
    """Each step's bars on the timeline, as the page draws them now: their kind and width in
    pixels."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("#live tr[data-timeline]"), (row) => [
            row.dataset.timeline,
            Array.from(row.querySelectorAll("rect.bar"), (bar) => [
                bar.dataset.kind, bar.getBoundingClientRect().width,
            ]),
        ])"""
    )


def test_the_timeline_of_a_running_tc01_grows_without_a_reload(page):
    start_from_the_form(page, "ESG-TC01")
    loads = len(page.loads)
    counts, running = [], {}
    deadline = time.monotonic() + 60
    while page.locator("#live").get_attribute("data-finished") != "true":
        assert time.monotonic() < deadline, timeline(page)
        drawn = timeline(page)
        counts.append(sum(len(bars) for _, bars in drawn))
        for name, bars in drawn:
            for kind, width in bars:
                if kind == "running":
                    running.setdefault(name, []).append(width)
        time.sleep(0.2)
    # Bars appeared one after the other: a step's queued bar once the step
    # before it ended, then its run's; none went away.
    assert counts == sorted(counts) and len(set(counts)) >= 4, counts
    # A running bar reaches to the moment of each answer: it grew while it ran.
    assert len(running) >= 3, running
    for name, widths in running.items():
        assert widths == sorted(widths), (name, widths)
    assert any(widths[-1] > widths[0] + 1 for widths in running.values()), running
    # At the end, every step waited, then ran and succeeded, and the bars fill the axis.
    drawn = timeline(page)
    assert [(name, [kind for kind, _ in bars]) for name, bars in drawn] == [
        (name, ["queued", "success"]) for name in ("div", "mul", "add", "sub")
    ]
    lane = page.locator("#live tr[data-timeline] td.lane").first.bounding_box()["width"]
    assert sum(width for _, bars in drawn for _, width in bars) == pytest.approx(lane, rel=0.05)
    assert len(page.loads) == loads  # no reload: the timeline updated with the page


def test_an_opened_log_stays_open_while_the_page_updates_itself(page):
    start_from_the_form(page, "ESG-TC02", {"div": [4, 2], "mul": [3]})
    page.locator("#log-1 summary").click()
    page.wait_for_selector('#live[data-finished="true"]', timeout=30_000)
    assert page.locator("#log-1").get_attribute("open") is not None
    assert "INFO 4 / 2" in page.inner_text("#log-1 pre")
    assert page.locator("#log-2").get_attribute("open") is None


def test_the_page_stops_asking_once_the_workflow_has_finished(page):
    start_from_the_form(page, "ESG-TC03")
    page.wait_for_selector('#live[data-finished="true"]', timeout=30_000)
    asked = len([url for url in page.requests if url.endswith("/live/")])
    page.wait_for_timeout(2500)
    assert len([url for url in page.requests if url.endswith("/live/")]) == asked
    assert asked <= 6  # once a second, for a workflow of about 3 s


def test_a_failing_workflow_shows_its_error_and_the_steps_that_did_not_run(page):
    start_from_the_form(page, "ESG-TC01", OVERFLOW)
    page.wait_for_selector('#live[data-finished="true"]', timeout=30_000)
    assert page.inner_text("#state") == "FAILURE"
    assert page.inner_text("#error").startswith("step 'mul' failed: OverflowError:")
    assert rows(page) == [
        ("div", "SUCCESS"),
        ("mul", "FAILURE"),
        ("add", "NOT_RUN"),
        ("sub", "NOT_RUN"),
    ]
    assert page.locator("button", has_text="Resume").is_visible()


def test_the_form_shows_the_apis_error_next_to_the_field_and_keeps_what_was_typed(page):
    page.goto("/workflows/")
    page.select_option("#testcase", "ESG-TC02")
    page.fill("#job_data", '{"div": [4, 0], "mul": [3]}')
    page.get_by_role("button", name="Start").click()
    error = page.locator("#job_data-errors")
    assert error.inner_text() == "job_data div: operand 2 is the divisor and must not be 0"
    assert page.get_attribute("#job_data", "aria-describedby") == "job_data-errors"
    assert page.input_value("#job_data") == '{"div": [4, 0], "mul": [3]}'


def test_choosing_a_test_case_puts_its_example_in_the_job_data(page):
    page.goto("/workflows/")
    assert json.loads(page.input_value("#job_data")) == TC01
    page.select_option("#testcase", "ESG-TC03")
    assert json.loads(page.input_value("#job_data")) == {"add": [3, 2], "sub": [1]}


def test_cancel_from_the_page(page):
    start_from_the_form(page, "ESG-TC01")
    page.click("button:has-text('Cancel')")
    page.wait_for_selector('#live[data-finished="true"]', timeout=30_000)
    assert page.inner_text("#state") == "REVOKED"
    states = dict(rows(page))
    assert states["sub"] == "REVOKED" and states["add"] == "REVOKED"
    assert page.locator("button", has_text="Resume").is_visible()


def test_the_list_shows_the_newest_workflow_first_with_its_state_and_progress(page):
    start_from_the_form(page, "ESG-TC02")
    workflow_id = page.url.rstrip("/").rpartition("/")[2]
    page.wait_for_selector('#live[data-finished="true"]', timeout=30_000)
    page.goto("/workflows/")
    first = page.locator("tbody tr").first
    cells = [cell.strip() for cell in first.locator("td").all_inner_texts()]
    assert cells[:4] == [workflow_id[:8], "ESG-TC02", "SUCCESS", "2/2"]
    assert cells[4].endswith(" ago")


def test_a_schedule_added_on_its_page_runs_and_is_paused_and_deleted_with_its_buttons(page):
    """The schedules page, on make serve's stack with its one Celery beat."""
    page.goto("/schedules/")
    page.select_option("#testcase", "ESG-TC03")
    page.fill("#every", "2")
    page.get_by_role("button", name="Add").click()
    page.wait_for_url(re.compile(r"/schedules/$"))
    row = page.locator("tbody tr").first
    assert "every 2 s" in row.inner_text() and "active" in row.inner_text()
    schedule_id = row.get_attribute("id").removeprefix("schedule-")
    # Beat reads the new schedule within 5 s, then starts it every 2 s.
    deadline = time.monotonic() + 30
    while int(row.locator("td").nth(4).inner_text()) < 1:
        assert time.monotonic() < deadline, "the schedule never ran"
        time.sleep(0.5)
        page.reload()
        row = page.locator(f"#schedule-{schedule_id}")
    row.get_by_role("button", name="Pause").click()
    row = page.locator(f"#schedule-{schedule_id}")
    assert "paused" in row.inner_text()
    assert row.get_by_role("button", name="Resume").is_visible()
    # The workflow it started says so on its page.
    page.goto("/workflows/")
    page.locator("tbody tr", has_text="ESG-TC03").first.locator("a").first.click()
    assert "Started by" in page.inner_text("main") and schedule_id[:8] in page.content()
    page.goto("/schedules/")
    page.locator(f"#schedule-{schedule_id}").get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/schedules/$"))
    assert page.locator(f"#schedule-{schedule_id}").count() == 0


def test_with_javascript_off_the_page_is_right_as_the_server_renders_it(browser, served):
    context = browser.new_context(base_url=served.url, java_script_enabled=False)
    page = context.new_page()
    try:
        # Without JavaScript, choosing a test case leaves the job data as it is.
        start_from_the_form(page, "ESG-TC02", {"div": [4, 2], "mul": [3]})
        page.wait_for_timeout(int(float(TASK_DELAY) * 2 * 1000) + 1500)
        page.reload()
        assert page.inner_text("#state") == "SUCCESS"
        assert page.inner_text("#result") == "6.0"
        # The timeline is drawn by the server, and each step's log is there.
        kinds = [
            [bar.get_attribute("data-kind") for bar in row.locator("rect.bar").all()]
            for row in page.locator("tr[data-timeline]").all()
        ]
        assert kinds == [["queued", "success"], ["queued", "success"]]
        assert (
            page.locator("tr[data-timeline] svg")
            .first.get_attribute("aria-label")
            .startswith("div, SUCCESS: queued: ")
        )
        page.locator("#log-2 summary").click()
        assert "INFO 2.0 * 3" in page.inner_text("#log-2 pre")
    finally:
        context.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """make serve as deployed, asking every request for a user; and one user, ada."""
    env = {"TASK_DELAY": "0", "API_ALLOW_ANONYMOUS": "0"}
    with api_stack.served("login", tmp_path_factory.mktemp("login"), env) as served:
        code = "from django.contrib.auth.models import User; User.objects.create_user('ada', password='ada-pw')"
        api_stack.manage("shell", "-c", code, env=served.env)
        yield served


def test_the_pages_ask_for_a_login_let_the_user_in_and_log_them_out(browser, guarded):
    context = browser.new_context(base_url=guarded.url)
    page = context.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/workflows/")
    assert page.url == f"{guarded.url}/accounts/login/?next=/workflows/"
    page.fill("#id_username", "ada")
    page.fill("#id_password", "not ada's")
    page.get_by_role("button", name="Log in").click()
    assert (
        "Please enter a correct username and password" in page.locator("[role=alert]").inner_text()
    )
    page.fill("#id_password", "ada-pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{guarded.url}/workflows/")
    assert "ada" in page.locator("header .account").inner_text()
    start_from_the_form(page, "ESG-TC02")
    mine = page.url
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))
    page.goto(mine)
    assert page.url.startswith(f"{guarded.url}/accounts/login/?next=/workflows/")
    context.close()
    hosts = {urllib.parse.urlsplit(url).netloc for url in requests}
    assert hosts == {f"127.0.0.1:{guarded.api_port}"}, requests
