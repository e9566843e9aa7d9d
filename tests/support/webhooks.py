"""A webhook receiver for the tests of webhooks (api/webhooks/): a real HTTP server in a thread.

It checks each request as a reader's receiver would, with the
``standardwebhooks`` library and the tests' ``SECRET``.
"""

import base64
import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

#: The secret the API and its workers sign the tests' webhooks with.
SECRET = "whsec_" + base64.b64encode(b"the webhooks' secret of the tests").decode()

#: The environment of an API worker that sends the tests' webhooks: signed with
#: SECRET, to 127.0.0.1 (a loopback address, refused unless allowed), with
#: waits between attempts of a fraction of a second.
WORKER_ENV = {
    "WEBHOOK_SECRET": SECRET,
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "WEBHOOK_BACKOFF": "0.2",
    "WEBHOOK_TIMEOUT": "5",
}


class Receiver:
    """A webhook receiver on 127.0.0.1: it answers each POST with the next of ``answers``
    (then 200), and keeps every request's headers and body.

    ``"hold"`` as an answer keeps the request open, without answering, until
    ``release`` is set: ``held`` is set once such a request has come.
    """

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.requests = []
        self.lock = threading.Lock()
        self.held = threading.Event()
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}/hooks/workflows?from=tests"

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.requests.append((self.path, headers, body, answer))
                if answer == "hold":
                    receiver.held.set()
                    receiver.release.wait(30)
                    answer = 200
                with contextlib.suppress(OSError):  # The sender may be gone.
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass  # The tests say what went wrong.

        return Handler

    def verified(self):
        """Each request's payload, checked as a receiver checks it; ``WebhookVerificationError``
        if one is not signed with the secret."""
        return [Webhook(SECRET).verify(body, headers) for _, headers, body, _ in self.requests]

    def ids(self):
        return [headers["webhook-id"] for _, headers, _, _ in self.requests]

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} requests, not {count}"
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for_notification(read, states=("delivered", "failed"), timeout=30):
    """The workflow that ``read()`` returns, once its notification's state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while (workflow := read())["notification"] is None or (
        workflow["notification"]["state"] not in states
    ):
        assert time.monotonic() < deadline, workflow
        time.sleep(0.05)
    return workflow
