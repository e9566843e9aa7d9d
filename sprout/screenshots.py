"""``make screenshots``: pictures of the workflows pages, for the READMEs, in docs/.

Starts ``make serve`` in the background with a database of its own, runs a
few workflows through the API (one that fails, so the list shows it), and
photographs, in headless Chromium, the list of workflows and the page of an
ESG-TC01 workflow while its third step runs: its steps, their timeline, and
the first step's log.
"""

import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .browser import chromium
from .paths import REPO
from .serve import Served
from .services import broker_connection
from .worker import api_queues, queue_env

DOCS = REPO / "docs"
QUEUE = "screenshots"
VIEWPORT = {"width": 1100, "height": 720}


def post(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def wait_for(url, done, timeout=60):
    deadline = time.monotonic() + timeout
    while not done(workflow := get(url)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not there within {timeout} s: {workflow}")
        time.sleep(0.2)
    return workflow


def main():
    DOCS.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="screenshots-"))
    env = {
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "TASK_DELAY": "1",
        **queue_env(QUEUE, app="config"),
    }
    with Served(env) as served, chromium() as browser:
        api = f"{served.url}/api/workflows/"
        finished = lambda workflow: workflow["state"] in {"SUCCESS", "FAILURE", "REVOKED"}  # noqa: E731
        for body in (
            {"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}},
            {
                "testcase": "ESG-TC01",
                "job_data": {"div": [1e308, 1], "mul": [10.0], "add": [6], "sub": [2]},
            },
            {"testcase": "ESG-TC03", "job_data": {"add": [3, 2], "sub": [1]}},
        ):
            wait_for(post(api, body)["links"]["self"], finished)
        running = post(
            api,
            {
                "testcase": "ESG-TC01",
                "job_data": {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]},
            },
        )
        third_runs = lambda workflow: workflow["steps"][2]["state"] == "STARTED"  # noqa: E731
        wait_for(running["links"]["self"], third_runs)

        page = browser.new_page(viewport=VIEWPORT)
        page.goto(running["links"]["page"])
        # The first step's log, opened as a reader would; it stays open as the page updates.
        page.click("#log-1 summary")
        page.wait_for_timeout(300)
        page.screenshot(path=DOCS / "workflow-page.png", full_page=True)
        wait_for(running["links"]["self"], finished)
        page.goto(f"{served.url}/workflows/")
        page.screenshot(path=DOCS / "workflows-page.png", full_page=True)
    with broker_connection() as connection:
        for queue in api_queues(QUEUE):
            connection.default_channel.queue_delete(queue)
    for name in ("workflows-page.png", "workflow-page.png"):
        print(f"docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
