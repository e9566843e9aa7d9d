"""The tests' plumbing: what the course's tests share, and nothing a reader runs.

- ``days``: a day's ``taskrunner`` imported in the test's process, with a worker of its own;
- ``clients``: client scripts in processes of their own, and a day run from a copy;
- ``api_stack``: the API's worker on the test database, ``make serve`` in the background, ``manage.py``;
- ``workflows``: waiting for a workflow, or a step, to reach a state;
- ``recording``: what a test reads of what ran: Redis commands, a task's log, a terminal;
- ``faults``, ``private_services``, ``private_stack``: faults caused on servers of a test's own;
- ``xdist_groups``, ``pytest_setup``: how pytest runs the suite.

What a reader runs beside the lessons (the worker helper, ``make demo``,
``make serve``, the embedded stack) lives in ``sprout/``; these modules use it.
"""
