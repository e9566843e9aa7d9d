"""The embedded stack's broker and result store: what sprout/filesystem.py adds to kombu's and Celery's.

These tests build their own connections on a folder of their own; they never
import ``sprout.embedded``, which would switch this whole test process over.
"""

import os
import threading
import time

import pytest
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu import Connection, Exchange, Queue

from sprout import filesystem

TRANSPORT = "sprout.filesystem:Transport"


@pytest.fixture
def folder(tmp_path):
    return tmp_path


@pytest.fixture
def connection(folder):
    options = {
        "data_folder_in": str(folder / "queues"),
        "data_folder_out": str(folder / "queues"),
        "control_folder": str(folder / "exchanges"),
        "store_processed": True,
        "processed_folder": str(folder / "processed"),
        "polling_interval": 0.005,
    }
    for name in ("queues", "exchanges", "processed"):
        (folder / name).mkdir()
    with Connection(
        "filesystem://localhost//", transport=TRANSPORT, transport_options=options
    ) as c:
        yield c


def test_messages_arrive_whole_and_in_the_order_they_were_sent(connection, folder):
    queue = Queue("lesson", Exchange("lesson"), "lesson")
    with connection.Producer() as producer:
        for number in range(30):
            producer.publish({"n": number}, exchange=queue.exchange, routing_key="lesson",
                             declare=[queue])  # fmt: skip
    received = []
    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(body["n"])]):
        while len(received) < 30:
            connection.drain_events(timeout=5)
    assert received == list(range(30))
    # Written under a hidden name, then renamed: no part of a message is left.
    assert [name for name in os.listdir(folder / "queues") if name.startswith(".")] == []


def test_messages_written_while_a_worker_polls_are_never_read_half_written(connection):
    # A reader polling every 5 ms against a writer: kombu's own transport lets
    # the reader take a file before its writer has filled it (kombu #1551).
    queue = Queue("race", Exchange("race"), "race")
    received, errors = [], []

    def write():
        with connection.clone() as writer, writer.Producer() as producer:
            for number in range(200):
                producer.publish({"n": number, "pad": "x" * 4000}, exchange=queue.exchange,
                                 routing_key="race", declare=[queue])  # fmt: skip

    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(body["n"])]):
        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 60
        while len(received) < 200 and time.monotonic() < deadline:
            try:
                connection.drain_events(timeout=1)
            except TimeoutError:
                pass
            except Exception as exc:
                errors.append(exc)
        writer.join()
    assert errors == []
    assert sorted(received) == list(range(200))


def test_an_auto_delete_queue_goes_with_its_last_consumer(connection, folder):
    # A worker's remote-control queue is such a queue: once the worker stops,
    # broadcasts must no longer pile up messages for it.
    broadcast = Exchange("broadcast", type="fanout")
    queue = Queue("worker-1.pidbox", broadcast, auto_delete=True)
    with connection.Consumer(queue, callbacks=[]):
        assert "worker-1.pidbox" in (folder / "exchanges" / "broadcast.exchange").read_text()
    assert "worker-1.pidbox" not in (folder / "exchanges" / "broadcast.exchange").read_text()
    with connection.Producer() as producer:
        producer.publish({"method": "ping"}, exchange=broadcast)
    assert os.listdir(folder / "queues") == []


def test_a_worker_told_to_stop_stops_waiting_for_messages_at_once(connection, monkeypatch):
    queue = Queue("idle", Exchange("idle"), "idle")
    with connection.Consumer(queue, callbacks=[]):
        # What Ctrl+C (a warm shutdown) sets in a worker: the exit code, 0.
        monkeypatch.setattr(filesystem.worker_state, "should_stop", 0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            connection.drain_events(timeout=30)
        assert time.monotonic() - started < 10, "the wait went on to its timeout"


def test_a_client_asks_for_a_result_as_often_as_a_worker_looks_for_a_message(folder, monkeypatch):
    (folder / "results").mkdir()
    app = Celery(set_as_current=False)
    app.conf.result_backend = f"sprout.filesystem:ResultStore+file://{folder / 'results'}"
    app.conf.broker_transport_options = {"polling_interval": 0.005}
    backend = app.backend
    assert isinstance(backend, filesystem.ResultStore)
    backend.store_result("a-task", 42, "SUCCESS")
    assert app.AsyncResult("a-task").get(timeout=5) == 42
    # get()'s default is to ask every 0.5 s: within 0.05 s, it would have asked once.
    asked = []
    read = backend.get_task_meta
    monkeypatch.setattr(
        backend, "get_task_meta", lambda task_id: asked.append(task_id) or read(task_id)
    )
    with pytest.raises(CeleryTimeoutError):
        app.AsyncResult("never-sent").get(timeout=0.05)
    assert len(asked) >= 5


def test_a_record_being_rewritten_is_never_read_half_written(folder):
    # A worker rewrites a task's record as it goes (STARTED, then SUCCESS);
    # Celery's own file store empties the file first, so a reader could find
    # no record at all, and the task back in PENDING (with "file://" here,
    # this test fails within a few hundred reads).
    (folder / "results").mkdir()
    app = Celery(set_as_current=False)
    app.conf.result_backend = f"sprout.filesystem:ResultStore+file://{folder / 'results'}"
    backend = app.backend
    backend.store_result("a-task", None, "STARTED")
    stop = threading.Event()

    def rewrite():
        while not stop.is_set():
            backend.store_result("a-task", None, "STARTED")

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        seen = {backend.get_task_meta("a-task")["status"] for _ in range(3000)}
    finally:
        stop.set()
        writer.join()
    assert seen == {"STARTED"}
