"""``make lab``: JupyterLab on the course's notebooks, with .venv's Python as their kernel."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from sprout import REPO
from sprout.browser import chromium
from sprout.processes import free_port
from tests.support.readme_blocks import readme_block

pytestmark = pytest.mark.starts("make lab, and Chromium")


NOTEBOOKS = sorted(path.name for path in (REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``make lab`` on a free port, with Jupyter's own files in a folder of the test's."""
    home = tmp_path_factory.mktemp("jupyter")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    log = home / "lab.log"
    # The README's command, on a free port rather than 8888.
    ((make, target),) = readme_block("README.md", "make lab").words
    with log.open("wb") as output:
        process = subprocess.Popen(
            [make, "--no-print-directory", target, f"LAB_PORT={port}"],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)")
        deadline = time.monotonic() + 90
        while not (found := pattern.search(log.read_text(errors="replace"))):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield {"url": found.group(0), "base": f"http://127.0.0.1:{port}", "token": found.group(1)}
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C, then Jupyter asks for another
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_kernel_is_the_courses_python(lab):
    request = urllib.request.Request(f"{lab['base']}/api/kernelspecs")
    request.add_header("Authorization", f"token {lab['token']}")
    with urllib.request.urlopen(request, timeout=10) as response:
        specs = json.load(response)
    assert specs["default"] == "python3"
    assert (
        Path(specs["kernelspecs"]["python3"]["spec"]["argv"][0])
        == REPO / ".venv" / "bin" / "python"
    )


def test_lab_lists_the_notebooks_and_opens_one_with_the_courses_kernel(lab):
    assert len(NOTEBOOKS) == 12
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(lab["url"])
        listing = page.locator(".jp-DirListing-content .jp-DirListing-itemText")
        page.wait_for_selector(
            ".jp-DirListing-itemText:has-text('day0_first_task.ipynb')", timeout=60_000
        )
        assert (
            sorted(name for name in listing.all_inner_texts() if name.endswith(".ipynb"))
            == NOTEBOOKS
        )
        page.dblclick(".jp-DirListing-itemText:has-text('day0_first_task.ipynb')")
        kernel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName")
        kernel.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-KernelName')].some(e => e.textContent.includes('Python 3 (ipykernel)'))",
            timeout=60_000,
        )
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
        )
        assert page.locator(".jp-Cell").count() > 10
