"""Day 6's two ways to read every step's state, timed: one request per task, or one MGET.

The chain is 100 ``add`` steps of day 6, frozen, not sent: its tasks have ids
but no records yet, as at the start of a run. Both ways read the same keys of
Redis and give the same answer; only the number of round trips differs. No
worker is needed. It prints the best time of each way over ``--repeat`` tries
and their ratio. This is a measurement, not a test: it exits 0 whatever the
figures, and fails only when Redis does not answer.

Usage::

    .venv/bin/python benchmarks/status_reads.py [--steps 100] [--repeat 20]
"""

import argparse
import sys
import time

from sprout import REPO
from sprout.services import check_services


def best_ms(read, task_ids, repeat):
    """The fastest of ``repeat`` calls of ``read(task_ids)``, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        read(task_ids)
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="steps in the chain")
    parser.add_argument("--repeat", type=int, default=20, help="tries of each way")
    args = parser.parse_args()
    problems = [problem for problem in check_services() if problem.service.startswith("Redis")]
    if problems:
        sys.exit("\n".join(map(str, problems)))

    # Day 6's own modules, imported as its second terminal would: from its folder.
    sys.path.insert(0, str(REPO / "day6"))
    from celery import chain

    import status
    from taskrunner.tasks.arithmetic import add

    workflow = chain(add.s(0, 0), *(add.s(1) for _ in range(args.steps - 1)))
    task_ids = status.step_ids(workflow.freeze())
    one_by_one = best_ms(status.states_one_by_one, task_ids, args.repeat)
    one_round_trip = best_ms(status.read_steps, task_ids, args.repeat)
    print(f"the states of a {len(task_ids)}-step chain, best of {args.repeat}")
    print(f"  one by one (AsyncResult.state): {one_by_one:7.2f} ms")
    print(f"  one round trip (MGET):          {one_round_trip:7.2f} ms")
    print(f"  one by one / one round trip:    {one_by_one / one_round_trip:7.1f}x")


if __name__ == "__main__":
    main()
