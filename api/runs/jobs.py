"""Start a test case's job chain, and keep a record of its steps.

As in day 7, every step of the chain is given the whole job data, and finds
its own operands in it.
"""

from celery import chain
from celery.result import denied_join_result
from django.db import DatabaseError, transaction

from config import celery_app

from . import tasks
from .models import Workflow
from .testcases import TESTCASES


def job_chain(testcase, job_data):
    """The chain of ``testcase``'s steps, in order, each given the whole ``job_data``."""
    return chain(getattr(tasks, step).s(job_data=job_data) for step in TESTCASES[testcase].steps)


def step_ids(result):
    """The task id of every step of a chain, first step first.

    A chain's result is the result of its last step, and each result knows
    the step before it as ``.parent``.
    """
    ids = []
    while result is not None:
        ids.append(result.id)
        result = result.parent
    return ids[::-1]


def start(testcase, job_data):
    """Send the test case's chain to the broker and return the stored ``Workflow``.

    Freezing the chain gives every step its task id before anything is sent.
    The record is written, the chain sent, and only then is the record
    committed: a broker that cannot be reached raises inside the transaction,
    which leaves no record of a workflow that never started. The steps never
    read the database, so sending before the commit cannot make them miss it.
    """
    workflow_chain = job_chain(testcase, job_data)
    task_ids = step_ids(workflow_chain.freeze())
    sent = False
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                testcase=testcase, job_data=job_data, task_ids=task_ids
            )
            # The API never waits for a result: it reads the steps' states from
            # the result store when asked. Saying so keeps Celery from
            # subscribing to each step's result in Redis as it sends the chain,
            # so that starting a workflow needs the broker and nothing else.
            with denied_join_result():
                workflow_chain.apply_async()
            sent = True
    except DatabaseError:
        if sent:
            # The commit failed after the chain left: stop its steps, so that
            # no workflow runs that the API cannot report on.
            celery_app.control.revoke(task_ids)
        raise
    return workflow
