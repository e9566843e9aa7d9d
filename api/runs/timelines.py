"""A workflow's timeline: every step as a bar on one time axis, as the workflow's page draws it.

Each step's bar is made of spans, from the history its record keeps (a
[state, time] pair for each change, ``runs/records.py``):

- **queued**, from the moment the step could start (the workflow's creation
  for the first step, the end of the step before for the others, or the
  creation of a resumed workflow for its first step that runs) to its first
  run;
- each **run**, from its STARTED to what came next: SUCCESS, FAILURE, an
  error it retried on (RETRY), or the run's worker lost (LOST, noticed when
  the step's message came back); a run still going reaches to now;
- each **wait** before a retry, from RETRY to the next run;
- **revoked**: a wait that a cancel ended.

A step recorded before its history was kept is drawn from its start and end
times alone. The page renders the timeline on the server, as plain SVG, so it
is right with JavaScript off; ``workflow.js`` replaces it with the rest of the
live part of the page every second, and a running bar grows.
"""

from dataclasses import dataclass
from datetime import datetime

from celery import states

from .records import LOST
from .summaries import NOT_RUN, Change

#: What each kind of span means, in words: the legend, and every bar's description.
KINDS = {
    "queued": "queued",
    "running": "running",
    "success": "ran and succeeded",
    "erred": "ran into an error it retries on",
    "retry": "waiting to retry",
    "failure": "ran and failed",
    "lost": "ran, and its worker was lost",
    "revoked": "revoked while it waited",
}

#: A step without a span, in words.
WITHOUT_SPANS = {
    NOT_RUN: "not run, since a step before it failed",
    states.PENDING: "waits for the step before it to end",
    states.REVOKED: "revoked before it could start",
}

#: The kind of a run, by the state that came after it.
RUN_ENDS = {
    states.SUCCESS: "success",
    states.FAILURE: "failure",
    states.RETRY: "erred",
    LOST: "lost",
    states.REVOKED: "revoked",
}

#: The narrowest a span is drawn, in percent of the axis: a wait of a few
#: milliseconds is still there to see.
NARROWEST = 0.4

#: Steps between two ticks of the axis, in seconds: the first that gives six ticks at most.
TICK_STEPS = (
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    21600,
    86400,
)


@dataclass(frozen=True)
class Span:
    kind: str
    start: datetime
    end: datetime
    #: Still going: a run, a wait, that reaches to now.
    ongoing: bool = False

    @property
    def seconds(self):
        return (self.end - self.start).total_seconds()

    def describe(self):
        so_far = " so far" if self.ongoing else ""
        return (
            f"{KINDS[self.kind]}: {self.seconds:.1f} s{so_far}, "
            f"{self.start:%H:%M:%S} to {self.end:%H:%M:%S}"
        )


@dataclass(frozen=True)
class Bar:
    """A span as drawn: where it starts and how wide it is, in percent of the axis."""

    kind: str
    x: str
    width: str
    title: str


@dataclass(frozen=True)
class Row:
    number: int
    name: str
    state: str
    tries: int
    bars: tuple[Bar, ...]
    #: The whole row in words, for a screen reader: the bars' text alternative.
    description: str


@dataclass(frozen=True)
class Tick:
    x: str
    label: str
    anchor: str


@dataclass(frozen=True)
class Timeline:
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]
    origin: datetime
    legend: tuple[tuple[str, str], ...] = tuple(KINDS.items())


def changes_of(step):
    """The step's history; for a step recorded before it was kept, its start and its end."""
    if step.history:
        return list(step.history)
    changes = []
    if step.started_at:
        changes.append(Change(states.STARTED, step.started_at))
    if step.finished_at and step.state in states.READY_STATES:
        changes.append(Change(step.state, step.finished_at))
    return changes


def spans_of(step, ready_at, now):
    """The spans of one step (a ``summaries.StepSummary``), which could start at ``ready_at``
    (None: not yet)."""
    if step.state == NOT_RUN:
        return []
    changes = changes_of(step)
    spans = []
    if ready_at is not None:
        if changes:
            kind = "revoked" if changes[0].state == states.REVOKED else "queued"
            spans.append(Span(kind, ready_at, changes[0].at))
        else:
            spans.append(Span("queued", ready_at, now, ongoing=True))
    for change, after in zip(changes, [*changes[1:], None], strict=False):
        if change.state == states.STARTED:
            if after is None:
                spans.append(Span("running", change.at, now, ongoing=True))
            else:
                spans.append(Span(RUN_ENDS.get(after.state, "running"), change.at, after.at))
        elif change.state == states.RETRY:
            if after is None:
                spans.append(Span("retry", change.at, now, ongoing=True))
            else:
                kind = "revoked" if after.state == states.REVOKED else "retry"
                spans.append(Span(kind, change.at, after.at))
    # A span that would end before it starts (a step cancelled while the one
    # before it still ran) is not drawn.
    return [span for span in spans if span.end >= span.start]


def end_of(step):
    """When ``step`` ended, if it has."""
    if step.state not in states.READY_STATES:
        return None
    changes = changes_of(step)
    return changes[-1].at if changes else step.finished_at


def percent(value):
    return f"{value:.2f}"


def ticks_for(seconds):
    step = next((step for step in TICK_STEPS if seconds / step <= 5), TICK_STEPS[-1])
    ticks = []
    at = 0.0
    while at <= seconds + 1e-9:
        x = at / seconds * 100
        anchor = "start" if at == 0 else ("end" if x > 95 else "middle")
        ticks.append(Tick(percent(x), f"{at:g} s", anchor))
        at += step
    return tuple(ticks)


def draw(workflow, summary, now):
    """The timeline of ``workflow``, whose summary is ``summary``, as it stands at ``now``."""
    drawn = []
    ready_at = workflow.created_at
    for number, step in enumerate(summary.steps, start=1):
        drawn.append((number, step, spans_of(step, ready_at, now)))
        # The next step could start once this one ended; in a resumed
        # workflow, not before the workflow itself, whatever the steps
        # carried over from the one it resumes.
        ended_at = end_of(step)
        ready_at = ended_at and max(ended_at, workflow.created_at)
    moments = [workflow.created_at] + [
        moment for _, _, spans in drawn for span in spans for moment in (span.start, span.end)
    ]
    origin = min(moments)
    last = now if not summary.finished else max(moments)
    seconds = max((last - origin).total_seconds(), 0.1)
    rows = []
    for number, step, spans in drawn:
        bars = []
        for span in spans:
            x = (span.start - origin).total_seconds() / seconds * 100
            width = max(span.seconds / seconds * 100, NARROWEST)
            x = min(x, 100 - NARROWEST)
            width = min(width, 100 - x)
            bars.append(Bar(span.kind, percent(x), percent(width), span.describe()))
        described = "; ".join(span.describe() for span in spans) or WITHOUT_SPANS.get(
            step.state, "not started"
        )
        rows.append(
            Row(
                number,
                step.name,
                step.state,
                step.tries,
                tuple(bars),
                f"{step.name}, {step.state}: {described}",
            )
        )
    return Timeline(tuple(rows), ticks_for(seconds), origin)
