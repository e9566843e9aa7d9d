"""The embedded stack's broker and result store: kombu's and Celery's, on files.

``Transport`` is kombu's filesystem transport, safe for several processes at
once. It is kombu's own transport with two writes made atomic, because a
course runs a worker and a client, often several workers, on one folder at
the same time:

- A message is written under a name no reader looks at, then renamed to its
  real name. kombu writes it in place, so a worker polling the folder can
  take the file while it is still empty and fail with ``JSONDecodeError:
  Expecting value`` (kombu issue #1551).
- An exchange's table of queues is created whole. kombu creates it empty and
  fills it, so two workers starting together can each write their own table
  and one of them is never found again (its ``ping`` goes unanswered).

Three things more, which RabbitMQ does and kombu's transport does not: a
queue declared ``auto_delete`` goes away with its last consumer (so a stopped
worker's remote-control queue stops receiving every later broadcast);
messages are named by a zero-padded clock, so that they are read in the order
they were sent; and a message given back to its queue is marked
``redelivered`` where Celery reads it.

``ResultStore`` is Celery's file result store, written the same way (Celery
empties a task's file, then fills it: a client reading in between saw the
task back in PENDING), and whose ``get()`` looks for a result as often as a
worker looks for a message, rather than every half second, the default of
every result store that cannot push.
"""

import contextlib
import os
import tempfile
import time
import uuid

from celery.backends.filesystem import FilesystemBackend
from celery.worker import state as worker_state
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


def write_atomically(path, data, replace=True):
    """Write a file under a name no reader looks at, then give it its name.

    A reader finds the whole file or none. With ``replace=False``, a file
    that another process gave that name first is kept.
    """
    folder, name = os.path.split(path)
    fd, part = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(str_to_bytes(data))
        if replace:
            os.replace(part, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(part, path)
    finally:
        if os.path.exists(part):
            os.unlink(part)


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        self._auto_delete = set()
        super().__init__(*args, **kwargs)

    def queue_declare(self, queue=None, passive=False, **kwargs):
        declared = super().queue_declare(queue, passive=passive, **kwargs)
        if kwargs.get("auto_delete"):
            self._auto_delete.add(declared.queue)
        return declared

    def basic_cancel(self, consumer_tag):
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue in self._auto_delete and queue not in self._active_queues:
            self._auto_delete.discard(queue)
            self.queue_delete(queue)  # Its bindings: no exchange delivers to it any more.
            self._purge(queue)  # The messages it had not read.

    def _put(self, queue, payload, **kwargs):
        name = f"{time.time_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        # A name that starts with a dot belongs to no queue: readers skip it.
        write_atomically(os.path.join(self.data_folder_out, name), dumps(payload))

    def _restore(self, message):
        # A message given back (a worker rejected it, or its pool process
        # died) says so where Celery reads it, as RabbitMQ's do: kombu marks it
        # at the top of its payload, which no reader looks at.
        message.delivery_info["redelivered"] = True
        super()._restore(message)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        if not file.exists():
            # An empty table, created whole; kombu then adds the queue to it
            # under its lock, as it does to a table that exists.
            write_atomically(str(file), dumps([]), replace=False)
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        """Wait for a message as kombu does, noticing a worker's shutdown within 0.1 s.

        A worker on a transport that cannot wake it waits for messages in
        rounds of two seconds, and hears of Ctrl+C only between two rounds;
        here a round ends early once the worker has been told to stop.
        """
        if timeout is None:
            return super().drain_events(connection)
        deadline = time.monotonic() + timeout
        while True:
            left = max(deadline - time.monotonic(), 0)
            try:
                return super().drain_events(connection, timeout=min(left, 0.1))
            except TimeoutError:  # socket.timeout
                if time.monotonic() >= deadline or worker_stopping():
                    raise


def worker_stopping():
    """Whether this process is a worker that has been told to stop (Ctrl+C, SIGTERM)."""
    # Each flag holds the exit code to stop with (0 for a warm shutdown) once set.
    flags = (worker_state.should_stop, worker_state.should_terminate)
    return any(flag is not None and flag is not False for flag in flags)


class ResultStore(FilesystemBackend):
    """Celery's file result store, written atomically and asked every 5 ms."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # As often as the broker's folder is looked at.
        options = self.app.conf.broker_transport_options or {}
        self.poll = options.get("polling_interval", 0.5)

    def wait_for(self, task_id, timeout=None, interval=0.5, **kwargs):
        interval = min(interval, self.poll)
        return super().wait_for(task_id, timeout=timeout, interval=interval, **kwargs)

    def set(self, key, value):
        # Celery's store empties the file, then fills it: a client reading in
        # between would see no record, and the task back in PENDING.
        write_atomically(os.fsdecode(self._filename(key)), value)
