"""How the course's tests share pytest-xdist's processes: in groups, the longest first.

``make test`` runs the tests in six processes (``-n 6 --dist loadgroup``),
``pytest`` alone and ``make check`` in four.
``group(item)`` names each test's group: the tests that share a worker run in
one process, so that the worker starts once. ``rank(...)`` says how long a
group takes, roughly: the suite starts the longest first, so that none of
them is left to run alone at the end, and ``LongestFirstScheduling`` keeps a
long group from waiting behind another.
"""

from pathlib import Path

from xdist.scheduler import LoadGroupScheduling

from .api_stack import worker_key

# Each group of outage tests, each run of make demo and the browser's tests
# take a minute or so; the compose stack's two modules, one after the other,
# about 8 min (2.5 min more while the first builds the images). In make test,
# test_api.py and the notebooks of chapters 9 and 10 are the longest, at 20
# to 35 s. The default-queue tests, the API's other modules, the other
# chapters' notebooks and the tests that start make serve or JupyterLab take
# 10 to 30 s; a day's notebook ten seconds or so; a day's module a few.
LONGEST = {
    "test_api_outages", "test_browser", "test_stack", "test_stack_faults", "test_api",
    "chapter09_keeping_work_safe", "chapter10_schedules_and_queues",
}  # fmt: skip
LONGER = {
    "test_api_errors", "test_api_faults", "test_access", "test_pages",
    "test_schema", "test_clients", "test_deploy", "test_serve", "test_lab", "test_benchmarks",
    "test_webhooks", "test_idempotency", "test_schedules",
    "chapter08_workflows_api", "chapter11_testing_your_tasks",
}  # fmt: skip
DEFAULT_QUEUE = "default-queue"
DATABASE = "database"


def group(item):
    """The xdist group of a test that does not name one itself."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("default_queue"):
        # Their workers read Celery's default queue, as a reader's does: one at a time.
        return DEFAULT_QUEUE
    if "api_worker" in fixtures:
        # The API's modules that ask for the same worker share it, in one process.
        module = item.module
        return worker_key(module.API_WORKER_ENV, getattr(module, "API_WORKER_OPTIONS", ()))
    if item.get_closest_marker("django_db") and not item.get_closest_marker("starts"):
        # The other tests of the API's database, in one process: each process
        # that runs such a test makes a test database first, all migrations
        # applied (about a second of CPU).
        return DATABASE
    if "day" in fixtures or item.path.stem.startswith("test_api"):
        # The tests of a day's module share the worker their module starts;
        # the API's fault tests, the stacks their module starts.
        return item.path.stem
    if item.path.suffix == ".ipynb":
        return item.path.name  # a notebook's cells run in order, in one kernel
    return f"{item.path.stem}::{item.name}"


def rank(path, name, group):
    """0 for the longest groups, then 1, 2, 3 for ever shorter ones."""
    stem = Path(path).stem
    if stem in LONGEST or name.startswith("test_demo_"):
        return 0
    if group in {DEFAULT_QUEUE, DATABASE} or stem in LONGER:
        return 1
    return 2 if path.endswith(".ipynb") else 3


def item_rank(item):
    marker = item.get_closest_marker("xdist_group")
    return rank(str(item.path), item.name, marker.args[0] if marker and marker.args else "")


def nodeid_rank(nodeid):
    """The rank of a test, from its id as xdist's controller knows it:
    ``tests/test_api.py::test_cancel@test_api``."""
    test, _, group = nodeid.rpartition("@")
    path, _, name = test.partition("::")
    return rank(path, name, group)


class LongestFirstScheduling(LoadGroupScheduling):
    """xdist's loadgroup, which hands out the groups in the order of the collection,
    except that a process still busy with a long group gets the shortest one left.

    A process asks for more while it runs its last tests (pytest must know which
    test comes next before it runs one), and what it gets waits until those
    end: a long group that waits there behind another would finish last.
    """

    # A private method, overridden on purpose: xdist makes a scheduler of our
    # own public (pytest_xdist_make_scheduler), but not the way its schedulers
    # pick the next group, and writing a whole scheduler to change that one
    # choice would copy most of xdist's loadscope.py. _assign_work_unit is where
    # LoadScopeScheduling hands a process the first group of its work queue
    # (an OrderedDict); this moves the shortest group to the front first.
    # requirements-test.txt pins pytest-xdist: when the pin moves, check that
    # both names are still there.
    def _assign_work_unit(self, node):
        running = [
            nodeid
            for unit in self.assigned_work.get(node, {}).values()
            for nodeid, done in unit.items()
            if not done
        ]
        if running and min(map(nodeid_rank, running)) <= 1:
            shortest = next(reversed(self.workqueue))
            self.workqueue.move_to_end(shortest, last=False)
        super()._assign_work_unit(node)
