"""``python -m sprout.run_worker QUEUE APP worker [OPTIONS]``: a worker on a queue of its own.

The same worker as ``celery -A APP worker [OPTIONS]`` (``APP`` is
``taskrunner`` for a day, ``config`` for the API), with one setting more: the
app's default queue is ``QUEUE``. A worker that reads a queue of its own
(``--queues``) must also send there the tasks it starts itself (the next
step of a chain, a chord's last step), or they would go to Celery's default
queue, where another day's worker may be listening.
"""

import sys

from celery.app.utils import find_app


def main(queue, app_name, *argv):
    # `python -m` puts the current directory first on sys.path, as `celery -A` does.
    app = find_app(app_name)
    app.conf.task_default_queue = queue
    app.worker_main(list(argv))


if __name__ == "__main__":
    main(*sys.argv[1:])
