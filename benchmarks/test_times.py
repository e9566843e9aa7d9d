"""How long the course's own checks take: each day's, make test and make check.

Each command runs as a reader types it, in the course's folder, one after the
other, and the benchmark prints the wall-clock seconds it took and the CPU
seconds of every process it waited for (on two cores, at most twice the
wall-clock time). With ``--whole`` it also runs ``make test``, the loop after
every change, and ``make check``, everything; ``--repeat N`` runs each
command N times, and counts how many runs were green. This is a measurement,
not a test: it exits 0 whatever the figures, and 1 when a command failed (the
output of its last failure is shown).

Usage::

    .venv/bin/python benchmarks/test_times.py              # make test DAY=0 ... DAY=7
    .venv/bin/python benchmarks/test_times.py --days 4 6   # only these days
    .venv/bin/python benchmarks/test_times.py --days --whole --repeat 5   # make test and make check, 5 times
"""

import argparse
import resource
import subprocess
import sys
import time

from sprout import REPO


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(*arguments):
    """Run ``make ARGUMENTS``; its wall-clock and CPU seconds, and its output if it failed."""
    started, cpu = time.monotonic(), children_cpu()
    done = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wall, cpu = time.monotonic() - started, children_cpu() - cpu
    return wall, cpu, (done.stdout if done.returncode else None)


def measure(name, arguments, repeat, failures):
    """Run ``make ARGUMENTS`` ``repeat`` times, printing each run; how many were green."""
    green = 0
    for run in range(1, repeat + 1):
        wall, cpu, failure = timed(*arguments)
        green += failure is None
        if failure is not None:
            failures[name] = failure
        label = name if repeat == 1 else f"{name} ({run}/{repeat})"
        verdict = "green" if failure is None else "FAILED"
        print(f"{label:<32} {wall:6.1f} s   CPU {cpu:6.1f} s   {verdict}", flush=True)
    if repeat > 1:
        print(f"{name:<32} green {green} of {repeat}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--days", nargs="*", type=int, default=range(8), help="days to time")
    parser.add_argument("--whole", action="store_true", help="also make test and make check")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command (1)")
    args = parser.parse_args()
    # The environment first, so that no figure below includes installing it.
    subprocess.run(["make", "venv"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    failures = {}
    for day in args.days:
        measure(f"make test DAY={day}", ["test", f"DAY={day}"], args.repeat, failures)
    if args.whole:
        measure("make test", ["test"], args.repeat, failures)
        measure("make check", ["check"], args.repeat, failures)
    for name, output in failures.items():
        print(f"\n{name} failed; the output of its last failure:\n{output}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
