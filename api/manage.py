#!/usr/bin/env python
"""Django's command-line utility for the workflows API.

Usage::

    # Terminal 1, in api/: the worker that runs the workflows' steps.
    celery -A config worker -l INFO

    # Terminal 2, in api/: create the database, then serve the API on port 8000.
    python manage.py migrate
    DJANGO_DEBUG=1 python manage.py runserver
"""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
