"""`make serve`: the API, its worker and Flower together, until Ctrl+C, and nothing left after."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from sprout import REPO
from sprout.processes import free_port
from sprout.services import broker_connection
from sprout.worker import api_queues, queue_env
from tests.support.days import unique_queue

pytestmark = pytest.mark.starts("make serve")


def get_json(url, data=None, auth=None):
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", auth)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_serve_runs_the_stack_until_ctrl_c_and_leaves_nothing_running(tmp_path):
    api_port, flower_port = free_port(), free_port()
    env = {
        **os.environ,
        "API_PORT": str(api_port),
        "FLOWER_PORT": str(flower_port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # Queues of its own, so that no other worker takes this stack's tasks.
        **queue_env(unique_queue("serve"), app="config"),
    }
    # A session of its own stands for the terminal: Ctrl+C reaches all of it.
    serve = subprocess.Popen(
        [sys.executable, "-m", "sprout.serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        api = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = get_json(f"{api}/api/health/")
                break
            except OSError:
                assert serve.poll() is None, serve.stdout.read().decode()
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.2)
        assert health["services"] == {"broker": "ok", "result_store": "ok", "database": "ok"}
        body = json.dumps({"testcase": "ESG-TC02", "job_data": {"div": [4, 2], "mul": [3]}})
        workflow = get_json(f"{api}/api/workflows/", data=body.encode())
        while workflow["state"] not in {"SUCCESS", "FAILURE"}:
            assert time.monotonic() < deadline + 30, workflow
            time.sleep(0.1)
            workflow = get_json(workflow["links"]["self"])
        assert workflow["result"] == 6.0
        # Flower is up, and asks for the password that make serve gave it.
        flower = f"http://127.0.0.1:{flower_port}/api/workers"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            get_json(flower)
        assert isinstance(get_json(flower, auth="Basic c3R1ZGVudDpzcHJvdXQ="), dict)
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        output = serve.communicate(timeout=60)[0].decode()
        with broker_connection() as connection:
            for queue in api_queues(env["CELERY_TASK_DEFAULT_QUEUE"]):
                connection.default_channel.queue_delete(queue)
    assert serve.returncode == 0, output
    assert "serve  | stopped" in output
    assert f"the workflows' pages are on http://localhost:{api_port}/workflows/" in output
    assert "worker | " in output and "api    | " in output and "flower | " in output
    assert "beat   | " in output and "beat: Starting..." in output
    # Nothing of the session is left: no worker, no gunicorn, no Flower.
    time.sleep(0.5)
    try:
        os.killpg(serve.pid, 0)
    except ProcessLookupError:
        pass
    else:
        os.killpg(serve.pid, signal.SIGKILL)
        raise AssertionError(f"processes of make serve were left running:\n{output}")
