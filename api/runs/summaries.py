"""A workflow's summary: its state, progress, result and error, from its steps' records.

The worker writes each step's state into the database as it changes
(``runs/records.py``), so a workflow's summary, running or finished, is read
from there: one query brings the steps of every workflow on a page, however
many there are, as day 6 read them all from Redis with one MGET.

How a workflow's state follows from its steps' states, first rule first:

- FAILURE: a step failed. The steps after it did not run, and are shown as NOT_RUN.
- SUCCESS: every step succeeded; ``result`` is the last step's result.
- REVOKED: the workflow was cancelled, or a step was revoked.
- STARTED: a step has started, is waiting to retry, or has finished, and the workflow goes on.
- PENDING: no step has started yet.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import states

from .steplogs import shown

NOT_RUN = "NOT_RUN"
UNKNOWN = "UNKNOWN"

#: The states in which a workflow has finished: nothing of it runs any more.
FINISHED = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED})
#: The states in which a step has finished, or never will run.
STEP_FINISHED = frozenset({*states.READY_STATES, NOT_RUN})


@dataclass(frozen=True)
class Change:
    """A change of a step's state, and when: one item of its history."""

    state: str
    at: datetime


@dataclass(frozen=True)
class StepSummary:
    """One step as the API shows it: what its record says, read in the light of the steps before it."""

    name: str
    task_id: str | None
    state: str
    result: Any
    error: str | None
    tries: int
    started_at: datetime | None
    finished_at: datetime | None
    #: What the step logged, try after try; a first line says how much was cut, if any.
    log: str
    #: Every change of its state, in order: each run's STARTED, RETRY, LOST, the end.
    history: tuple[Change, ...]


@dataclass(frozen=True)
class Summary:
    """A workflow as the API shows it: the serializer, the pages and ``watch`` read these attributes."""

    state: str
    result: Any
    error: str | None
    steps: tuple[StepSummary, ...]

    @property
    def succeeded(self):
        """How many steps succeeded."""
        return sum(step.state == states.SUCCESS for step in self.steps)

    @property
    def progress(self):
        """Steps that succeeded, out of all: ``2/4``."""
        return f"{self.succeeded}/{len(self.steps)}"

    @property
    def task_ids(self):
        """The steps' task ids, in order; None for a step carried over from a resumed workflow."""
        return [step.task_id for step in self.steps]

    @property
    def finished(self):
        """Whether nothing of the workflow runs any more.

        A cancelled workflow reads REVOKED at once, but a step that was already
        running runs to its end (and may make the workflow FAILURE, or SUCCESS
        if it was the last): until then, the workflow has not finished.
        """
        return self.state in FINISHED and not any(
            step.state in {states.STARTED, states.RETRY} for step in self.steps
        )


def step_result(name, result):
    """A step's result without its wrapping: ``{"div_result": 2.0}`` is 2.0."""
    if isinstance(result, dict) and list(result) == [f"{name}_result"]:
        return result[f"{name}_result"]
    return result


def summarize_steps(steps):
    """Every step, in order, as the API shows it."""
    summaries = []
    stopped = False  # A step before this one failed: the chain went no further.
    for step in steps:
        state = NOT_RUN if stopped and step.state != states.REVOKED else step.state
        summaries.append(
            StepSummary(
                name=step.name,
                task_id=step.task_id,
                state=state,
                result=step_result(step.name, step.result) if state == states.SUCCESS else None,
                error=(step.error or None) if state in {states.FAILURE, states.RETRY} else None,
                tries=step.tries,
                started_at=step.started_at,
                finished_at=step.finished_at if state in states.READY_STATES else None,
                log=shown(step.log, step.log_cut),
                history=tuple(Change(was, datetime.fromisoformat(at)) for was, at in step.history),
            )
        )
        stopped = stopped or state == states.FAILURE
    return summaries


def workflow_state(step_states, cancelled):
    if states.FAILURE in step_states:
        return states.FAILURE
    if all(state == states.SUCCESS for state in step_states):
        return states.SUCCESS
    if cancelled or states.REVOKED in step_states:
        return states.REVOKED
    if any(state != states.PENDING for state in step_states):
        return states.STARTED
    return states.PENDING


def summarize(steps, cancelled):
    """The summary of a workflow, from its steps' records in order."""
    summaries = summarize_steps(steps)
    state = workflow_state([step.state for step in summaries], cancelled)
    failed = next((step for step in summaries if step.state == states.FAILURE), None)
    return Summary(
        state=state,
        result=summaries[-1].result if state == states.SUCCESS else None,
        error=f"step {failed.name!r} failed: {failed.error}" if failed else None,
        steps=tuple(summaries),
    )
