"""How long the course's own checks take: each day's, and the whole of make test.

Each command runs as a reader types it, in the course's folder, one after the
other, and the benchmark prints the wall-clock seconds it took and the CPU
seconds of every process it waited for (on two cores, at most twice the
wall-clock time). With ``--whole`` it also runs ``make test``, which runs
its two sessions one after the other, and then the two side by side (``make
-j2 --output-sync test-live test-embedded``): their ratio says whether side
by side would save anything on this machine. This is a measurement, not a
test: it exits 0 whatever the figures, and 1 only when a command fails (its
output is shown).

Usage::

    .venv/bin/python benchmarks/test_times.py              # make test DAY=0 ... DAY=7
    .venv/bin/python benchmarks/test_times.py --days 4 6   # only these days
    .venv/bin/python benchmarks/test_times.py --whole      # and make test, and side by side
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
    """Run ``make ARGUMENTS``; its wall-clock and CPU seconds."""
    started, cpu = time.monotonic(), children_cpu()
    done = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wall, cpu = time.monotonic() - started, children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"make {' '.join(arguments)} failed:\n{done.stdout}")
    return wall, cpu


def show(name, wall, cpu, note=""):
    print(f"{name:<40} {wall:6.1f} s   CPU {cpu:6.1f} s{note}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--days", nargs="*", type=int, default=range(8), help="days to time")
    parser.add_argument("--whole", action="store_true", help="also make test, both ways")
    args = parser.parse_args()
    # The environment first, so that no figure below includes installing it.
    subprocess.run(["make", "venv"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    for day in args.days:
        show(f"make test DAY={day}", *timed("test", f"DAY={day}"))
    if args.whole:
        one_after_the_other = timed("test")
        show("make test (one run after the other)", *one_after_the_other)
        side_by_side = timed("-j2", "--output-sync=target", "test-live", "test-embedded")
        ratio = one_after_the_other[0] / side_by_side[0]
        show("test-live and test-embedded side by side", *side_by_side, f"   ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
