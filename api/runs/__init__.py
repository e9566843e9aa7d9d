"""The runs app: start day 7's job chain for a test case, and report its steps.

It is not called ``workflows``: days 4 to 7 have a module of that name, and
the course's tests import both into one process.
"""
