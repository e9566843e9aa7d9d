"""A step's log: what each run of a step logged, kept with the step's record.

While ``JobStep`` runs a step (``runs/base.py``), ``capture`` adds a
``logging.Handler`` of that run's own to the root logger and to Celery's task
logger, and takes it away when the run ends. It keeps the lines logged in the
thread that runs the step: ``LoggedTask``'s, a ``get_task_logger`` logger's in
the step's own code, any other library's. A pool process of the prefork pool
runs one task at a time; the threads pool runs several in one process, each
in a thread of its own, and each run's handler keeps its own thread's lines.

The lines are written into the step's row by the same UPDATE that records how
the run ended (``runs/records.py``): SUCCESS, FAILURE with the traceback, or
RETRY with the error and the wait. Nothing is written on its own, so nothing
more can fail. What that costs: a run whose process dies (killed, out of
memory, its machine gone) writes nothing, and its lines are lost with it; the
next run of the step finds the message delivered again, and its log says that
a run was lost. A run whose record cannot be written (the database away) is
sent again for later, and its lines go too.

A log keeps its last ``STEP_LOG_MAX_CHARS`` characters (settings.py): a step
that logs in a loop must not fill the database, nor every answer of the API.
What goes first is the oldest, and ``log_cut`` counts it.
"""

import logging
import threading
import time
import traceback
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat, Greatest, Length, Right
from django.utils import timezone

#: The loggers a run's handler listens to: the root logger, which hears every
#: logger that passes its lines on, and Celery's task logger, which does not:
#: the worker keeps the lines of ``get_task_logger`` loggers for its own
#: handler (their parent, ``celery.task``, has ``propagate`` off).
LOGGERS = ("", "celery.task")


class LineFormatter(logging.Formatter):
    """One line a record, as the step's log shows it: ``09:41:02.153 INFO started with …``,
    in UTC, as the pages show every time."""

    converter = time.gmtime

    def __init__(self):
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)s %(message)s", "%H:%M:%S")


@dataclass(frozen=True)
class Part:
    """Lines to add at the end of a step's log, and how many characters were cut before them."""

    text: str
    cut: int = 0


def line(label, message, at):
    """A line of the log that no logger wrote, such as ``RETRY …``, at ``at`` (a UTC datetime)."""
    return f"{at:%H:%M:%S}.{at.microsecond // 1000:03d} {label} {message}\n"


class RunLog(logging.Handler):
    """What one run of a step logs, in the thread that runs it: its last ``limit`` characters."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit
        self.thread = threading.get_ident()
        self.lines = deque()
        self.size = 0
        self.cut = 0
        # A record that reaches both loggers (a logger under the root whose
        # lines also go to celery.task's handlers) is kept once.
        self.last = None
        self.setFormatter(LineFormatter())

    def emit(self, record):
        if record.thread != self.thread or record is self.last:
            return
        self.last = record
        try:
            self.add(self.format(record) + "\n")
        except Exception:
            self.handleError(record)

    def note(self, label, message, details=""):
        """Add a line of the step's own, not a logger's: how the run started or ended."""
        self.add(line(label, message, timezone.now()) + details)

    def add(self, text):
        """Add ``text``, then let the oldest characters go until ``limit`` are left."""
        self.lines.append(text)
        self.size += len(text)
        while self.size > self.limit:
            first = self.lines.popleft()
            excess = self.size - self.limit
            if len(first) > excess:
                # The newest line alone is too long: keep its end.
                self.lines.appendleft(first[excess:])
                first = first[:excess]
            self.size -= len(first)
            self.cut += len(first)

    def part(self):
        """All this run's lines, and how much it cut."""
        return Part("".join(self.lines), self.cut)


def formatted_traceback(exc):
    """``exc``'s traceback, as Python prints it, from where the step's run caught it."""
    return "".join(traceback.format_exception(exc))


@contextmanager
def capture(limit=None):
    """Keep what this thread logs while the block runs, in a ``RunLog`` of its own."""
    handler = RunLog(settings.STEP_LOG_MAX_CHARS if limit is None else limit)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def appended(part, limit=None):
    """The fields of an UPDATE that adds ``part`` at the end of a step's log, computed by the
    database: the log keeps its last ``limit`` characters, and ``log_cut`` counts the rest.

    No read comes first: the UPDATE that records a step's state carries its log with it.
    """
    if part is None or not (part.text or part.cut):
        return {}
    limit = settings.STEP_LOG_MAX_CHARS if limit is None else limit
    whole = Concat(F("log"), Value(part.text), output_field=TextField())
    return {
        "log": Right(whole, limit, output_field=TextField()),
        "log_cut": F("log_cut") + part.cut + Greatest(Length(whole) - limit, Value(0)),
    }


def append_to(step, part, limit=None):
    """Add ``part`` at the end of the log of ``step``, a row read under a lock; not saved."""
    limit = settings.STEP_LOG_MAX_CHARS if limit is None else limit
    whole = step.log + part.text
    step.log = whole[-limit:]
    step.log_cut += part.cut + len(whole) - len(step.log)


def shown(log, cut):
    """The log as the API and the pages show it: a first line says how much was cut, if any."""
    if not cut:
        return log
    return f"[{cut:,} earlier characters cut: the log keeps its last {len(log):,}]\n{log}"
