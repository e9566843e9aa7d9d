"""Every benchmark runs: once, at a tiny size, as ``make bench`` would run it.

The figures are the benchmarks' business, not the tests': a run this small
measures nothing. What it shows is that each script still starts its
workers, its servers and its clients, and prints the line of its result, so
that none can break unseen between two runs of ``make bench``.
"""

import subprocess
import sys

import pytest

from sprout import REPO

pytestmark = pytest.mark.starts(
    "every benchmark, at a tiny size: workers, the API, make test DAY=0"
)


@pytest.mark.parametrize(
    ("script", "arguments", "result"),
    [
        ("chain_latency.py", ["--runs", "2"], "embedded / live"),
        ("api_throughput.py", ["--rounds", "1", "--workflows", "5"], "API / bare chain"),
        ("status_reads.py", ["--steps", "3", "--repeat", "1"], "one by one / one round trip"),
        ("test_times.py", ["--days", "0"], "make test DAY=0"),
    ],
)
def test_the_benchmark_runs_and_prints_its_result(script, arguments, result):
    run = subprocess.run(
        [sys.executable, REPO / "benchmarks" / script, *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert result in run.stdout, run.stdout + run.stderr
