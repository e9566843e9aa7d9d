"""A step tested without a worker: its function called as plain Python, then the task
run in this process with ``Task.apply()``.

Neither sends a message: they test what the step computes, and (``apply``)
what its task class does around it, in a few milliseconds. What only a
worker does is in test_workflows.py.
"""

from fractions import Fraction

import kombu.exceptions
import pytest
from celery import states

from runs import tasks


def test_the_function_divides():
    # ``run`` is the function under @shared_task, called as plain Python: no
    # broker, no worker, no database, no task class around it.
    assert tasks.div.run(job_data={"div": [4, 2]}) == {"div_result": 2.0}


def test_a_later_step_takes_the_result_before_it_as_a_keyword():
    # In a chain, the step before hands on {"div_result": 2.0}; JobStep turns
    # it into keywords before calling the function, which sees this.
    assert tasks.mul.run(div_result=2.0, job_data={"mul": [3]}) == {"mul_result": 6.0}


def test_the_function_raises_what_the_worker_would_record():
    with pytest.raises(ZeroDivisionError):
        tasks.div.run(job_data={"div": [4, 0]})
    with pytest.raises(OverflowError, match="too large for a number"):
        tasks.mul.run(div_result=1e308, job_data={"mul": [10]})


# apply() runs the task in this process, at once, through its task class:
# JobStep's __call__ looks the step up in the database (a task the API did not
# start has no row, and runs unrecorded), and on_failure runs on an error. So
# these tests need the database; they see the test's own transaction.


@pytest.mark.django_db
def test_apply_runs_the_task_class_and_returns_an_eager_result():
    result = tasks.div.apply(kwargs={"job_data": {"div": [4, 2]}})
    assert result.state == states.SUCCESS
    assert result.get() == {"div_result": 2.0}


@pytest.mark.django_db
def test_apply_hands_on_a_result_as_a_chain_does():
    # The positional dict is what a chain hands the next step; ResultAsKeywords,
    # part of the task class, unpacks it. Calling .run() would refuse it.
    result = tasks.mul.apply(args=({"div_result": 2.0},), kwargs={"job_data": {"mul": [3]}})
    assert result.get() == {"mul_result": 6.0}


@pytest.mark.django_db
def test_apply_keeps_a_failure_in_its_result():
    result = tasks.div.apply(kwargs={"job_data": {"div": [4, 0]}})
    assert result.state == states.FAILURE
    assert isinstance(result.result, ZeroDivisionError)


@pytest.mark.django_db
def test_apply_does_not_serialize_what_a_worker_would_be_sent():
    # A Fraction is no JSON value. apply() hands the object itself to the
    # function, and the step works; sending the same call to a worker fails
    # before anything leaves this process: the app accepts JSON only.
    job_data = {"div": [Fraction(1), Fraction(3)]}
    assert tasks.div.apply(kwargs={"job_data": job_data}).get() == {"div_result": Fraction(1, 3)}
    with pytest.raises(kombu.exceptions.EncodeError, match="not JSON serializable"):
        tasks.div.apply_async(kwargs={"job_data": job_data})
