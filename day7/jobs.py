"""One piece of job data, handed to every step of a chain.

Each step finds its own operands in ``job_data``, under its own name: the
first step both, each later step one, applied to the previous step's result.
"""

from celery import chain

from taskrunner.tasks import steps

JOB_DATA = {"div": [4, 2], "mul": [3], "add": [6], "sub": [2]}

STEPS = {"div": steps.div, "mul": steps.mul, "add": steps.add, "sub": steps.sub}


def job_chain(job_data, names=("div", "mul", "add", "sub")):
    """A chain of the steps ``names``, each given the whole ``job_data``."""
    return chain(STEPS[name].s(job_data=job_data) for name in names)


def main():
    result = job_chain(JOB_DATA).apply_async()
    print("job data:", JOB_DATA)
    print("result:  ", result.get(timeout=120))

    # A job whose data lacks a step's operands fails at that step, and says why.
    incomplete = {"div": [4, 2], "add": [6], "sub": [2]}
    failed = job_chain(incomplete).apply_async()
    failed.get(timeout=120, propagate=False)
    print("without 'mul':", failed.state, failed.result)


if __name__ == "__main__":
    main()
