"""The API's whole stack on servers of a test's own, to break: the fault tests and the soak.

``private_stack()`` starts a RabbitMQ node and a Redis server of its own
(``private_services.py``), and the API under gunicorn on them, with a
SQLite database of its own, or on a ``PrivatePostgres`` given to it, as in
docker-compose.yml; it yields a ``Stack``, which starts the API's workers and
its Celery beat (``Beat``) with the README's commands, and reads and starts
workflows through the API, as a client would.
"""

import contextlib
import time
from dataclasses import dataclass

from kombu import Connection

from sprout import DayWorker
from sprout.api import API, FINISHED, ApiServer, Beat

from .private_services import PrivatePostgres, PrivateRabbitMQ, PrivateRedis


@dataclass
class Stack:
    broker: PrivateRabbitMQ
    redis: PrivateRedis
    api: ApiServer
    env: dict
    database: PrivatePostgres | None = None

    def worker(self, task_delay="0.3", options=(), env=None):
        """The API's worker, started with the README's command (and ``options``) on this stack."""
        return self.worker_process(task_delay, options, env).start()

    def worker_process(self, task_delay="0.3", options=(), env=None):
        """The same worker, not started yet (``start()``, or ``launch()`` without waiting)."""
        return DayWorker(
            "api", folder=API, app="config", options=options, documented=True,
            env={**self.env, "TASK_DELAY": task_delay, **(env or {})},
        )  # fmt: skip

    def beat(self, every="1"):
        """Celery beat, started with the README's command on ``with``: the repair every ``every`` s."""
        return Beat({**self.env, "REPAIR_EVERY": every})

    def drop_messages(self):
        """Take every message waiting in the steps' queue, and drop it; their task ids.

        What is lost when a broker loses its disk, or someone purges the queue.
        """
        dropped = []
        with Connection(self.broker.url) as connection:
            channel = connection.default_channel
            with contextlib.suppress(*connection.channel_errors):
                # No worker may have made the queue yet: then nothing waits there.
                while (message := channel.basic_get("workflows", no_ack=True)) is not None:
                    dropped.append(message.headers["id"])
        return dropped

    def call(self, method, path, body=None):
        """Send a request to the API: its status, its JSON answer and how long it took."""
        return self.api.request(method, path, body)

    def start(self, body):
        status, workflow, _ = self.call("POST", "/api/workflows/", body)
        assert status == 202, workflow
        return f"/api/workflows/{workflow['id']}/"

    def read(self, path):
        status, answer, _ = self.call("GET", path)
        assert status == 200, answer
        return answer

    def follow(self, path, timeout=120):
        deadline = time.monotonic() + timeout
        while (workflow := self.read(path))["state"] not in FINISHED:
            assert time.monotonic() < deadline, workflow
            time.sleep(0.2)  # each reading is a request the API's one process answers
        return workflow

    def wait_for_a_running_step(self, paths, timeout=30):
        deadline = time.monotonic() + timeout
        while not any(
            step["state"] == "STARTED" for path in paths for step in self.read(path)["steps"]
        ):
            assert time.monotonic() < deadline, "no step has started"
            time.sleep(0.1)


@contextlib.contextmanager
def private_stack(database=None, env=None):
    """A stack of private servers, and the API on them: SQLite unless ``database`` is given.

    ``env`` adds to the environment of the API, its workers and its beat.
    """
    with PrivateRabbitMQ() as broker, PrivateRedis() as redis:
        env = {
            "CELERY_BROKER_URL": broker.url,
            "CELERY_RESULT_BACKEND": redis.url,
            # The tests start workflows faster than a person; the limit has tests of its own.
            "API_START_RATE": "100000/minute",
            **(env or {}),
        }
        if database is not None:
            env["DATABASE_URL"] = database.url
        api = ApiServer(env)
        # The workers write every step into the API's database.
        env["DATABASE_URL"] = api.database_url
        with api:
            yield Stack(broker, redis, api, env, database)
