"""The runs app: start day 7's job chain for a test case, and report its steps.

It is not called ``workflows``: days 4 to 7 have a module of that name, and a
Python process that imports one of them must still be able to import this app.
"""
