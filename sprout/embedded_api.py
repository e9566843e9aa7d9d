"""The API's Django settings on the embedded stack: ``DJANGO_SETTINGS_MODULE=sprout.embedded_api``.

The API reads its Celery settings from Django's settings, as Celery's Django
example does, and never from ``CELERY_CONFIG_MODULE``. So the course gives
it a settings module of its own, as a deployment would: the API's settings,
``config.settings``, with the embedded stack's broker and result store on
top. In ``api/``, in each terminal of the API (gunicorn, its worker, beat)::

    export DJANGO_SETTINGS_MODULE=sprout.embedded_api

``make demo``, ``make serve``, the notebooks and the tests name it for every
process of the API they start when the course runs on the embedded stack
(``sprout.api.api_env``), and ``make test-embedded`` gives it to the API's
tests (``pytest --ds=sprout.embedded_api``).
"""

# First: importing the embedded stack exports its broker's and its result
# store's URLs, which the API's settings read from the environment as well.
from . import embedded

# isort: split
from config.settings import *  # noqa: F403 (the API's settings, on which these come)

CELERY_BROKER_URL = embedded.broker_url
CELERY_BROKER_TRANSPORT = embedded.broker_transport
CELERY_BROKER_TRANSPORT_OPTIONS = embedded.broker_transport_options
CELERY_RESULT_BACKEND = embedded.result_backend
CELERY_RESULT_CHORD_RETRY_INTERVAL = embedded.result_chord_retry_interval
CELERY_WORKER_LOST_WAIT = embedded.worker_lost_wait
