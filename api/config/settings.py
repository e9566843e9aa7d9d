"""Settings of the workflows API, read from the environment.

.env.example lists every variable. Without any of them, the API serves on
localhost with a SQLite file in this folder, RabbitMQ and Redis on their
standard local ports, and DEBUG off.
"""

import os
from pathlib import Path

import dj_database_url
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_flag("DJANGO_DEBUG")

# Django signs the pages' sessions and their CSRF tokens with this key: a
# server must never run on a key that anyone can read here. With DEBUG on, a
# development key stands in. With DEBUG off and no
# DJANGO_SECRET_KEY, the key stays empty: the Celery worker and the management
# commands run, and config/wsgi.py and config/asgi.py refuse to serve.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "django-insecure-development-only-set-DJANGO_SECRET_KEY-in-production"

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get(
        "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver"
    ).split(",")
    if host.strip()
]

INSTALLED_APPS = [
    # Users, their sessions (the pages' login) and their API tokens.
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework.authtoken",
    # The interactive docs page serves its scripts from drf-spectacular-sidecar.
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Celery beat's schedule, kept in the database: the schedules that users
    # add, pause and delete through the API reach beat without a restart.
    "django_celery_beat",
    "runs",
    "schedules",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The static files, answered before anything else looks at the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A body larger than the API accepts answers 413 before anything reads it.
    "runs.limits.RefuseLargeBodies",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The pages' forms carry a token that another site cannot know.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # No page is to be shown inside another site's frame.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    },
]

# DATABASE_URL, such as postgres://user:password@host:5432/name; a SQLite
# file beside manage.py when it is not set, or empty.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The API and every process of the worker write to this one file at once.
    DATABASES["default"]["OPTIONS"] = {
        # The write-ahead log lets readers read while a writer writes, and a
        # commit append to the log rather than rewrite the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        # A transaction takes the write lock when it begins, so that two
        # writers queue up rather than one failing half-way with "database is
        # locked"; a writer waits up to 20 s for its turn. Every transaction of
        # the API and the worker is a few statements long.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# The pages' scripts and styles, and the docs page's (from drf-spectacular-sidecar),
# are served by the API itself, through whitenoise: the compose stack runs the
# API in one container with no web server in front of it to send them.
STATIC_URL = "static/"
# Where `manage.py collectstatic` gathers them, as the image does when it is
# built (api/Dockerfile). There they are served compressed, under names that
# hold a hash of their content, and browsers are told to keep them forever: a
# changed file gets a new name. Those names come from the manifest that
# collectstatic writes, so the choice follows this variable, not DEBUG:
# without it (runserver, gunicorn on a checkout), nothing was
# collected, and whitenoise serves each file from its app's static/ folder
# under its own name, DEBUG on or off.
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_ROOT
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_ROOT

# Anonymous access, for one developer on their own machine, with the API
# served on 127.0.0.1 only. Anywhere else, leave
# it off: every request then needs a user, and each user sees their own
# workflows only (staff see all).
API_ALLOW_ANONYMOUS = env_flag("API_ALLOW_ANONYMOUS")

# The pages' login: Django's own views, at /accounts/login/ and /accounts/logout/.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workflow-pages"
LOGOUT_REDIRECT_URL = "login"

# How many workflows a user may start, in DRF's syntax: 60/minute, 1000/day.
# The counts live in Redis, beside the results (the cache forgets them with
# no harm); on the embedded stack, in each server process's memory.
API_START_RATE = os.environ.get("API_START_RATE", "60/minute")
_result_store = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
if _result_store.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _result_store,
            # Two deployments that share one Redis (staging and production,
            # say) keep their counts apart with prefixes of their own.
            "KEY_PREFIX": os.environ.get("API_CACHE_PREFIX", "api"),
            # A Redis that does not answer must not hold a request up for long.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

# The largest request body the API reads, in bytes: a workflow's job data is
# a few hundred. A larger one answers 413 (runs/limits.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# Behind a proxy that terminates TLS (API_HTTPS=1): cookies only over HTTPS,
# every plain HTTP request redirected, and browsers told to come back over
# HTTPS only (HSTS, for API_HSTS_SECONDS; for every subdomain too with
# API_HSTS_INCLUDE_SUBDOMAINS=1; in the browsers' preload list with
# API_HSTS_PRELOAD=1). The proxy must set X-Forwarded-Proto, and strip it from
# what clients send. Without HTTPS, `manage.py check --deploy` warns about
# exactly these settings (api/README.md, "Before you deploy").
API_HTTPS = env_flag("API_HTTPS")
if API_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("API_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("API_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = env_flag("API_HSTS_PRELOAD")
    # The health check of docker-compose.yml asks over plain HTTP, from inside,
    # and so does Prometheus in the stack (/metrics).
    SECURE_REDIRECT_EXEMPT = [r"^api/health/$", r"^metrics$"]
# The pages and the API are never to be framed, not even by this site.
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    # Every answer is JSON, errors included.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "runs.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Who may use the API: a user with a token (Authorization: Token <key>,
    # made by `python manage.py drf_create_token <user>`) or a session (the
    # pages' login). The token comes first, so that a request with neither
    # answers 401 and says how to authenticate (runs/exceptions.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["runs.access.SignedIn"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "runs.exceptions.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Celery: Seed to Sprout — workflows API",
    "DESCRIPTION": (
        "Starts day 7's job-data workflow for a named test case, as a Celery chain, "
        "and reports the state of each of its steps."
    ),
    "VERSION": "1.0.0",
    # OpenAPI 3.1, whose JSON Schema can say what each operand must be (runs/schema.py).
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The answers that come from outside the views: 401, 413, 415, 429 and their headers.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "runs.schema.document_refusals",
    ],
    # What a request sends and what an answer holds are two schemas: the docs
    # page's forms then ask only for testcase and job_data.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the drf-spectacular-sidecar package, so the
    # docs page works without internet; the online validator is never asked.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Celery reads every setting below through config/celery.py, without the
# CELERY_ prefix: CELERY_BROKER_URL is Celery's broker_url. Celery itself also
# lets the CELERY_BROKER_URL and CELERY_RESULT_BACKEND environment variables
# take precedence, as in every day of the course.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
# Each kind of work travels on a queue of its own (chapter 10, "Queues by
# kind", in api/chapters/): the workflows' steps, on Celery's default queue for this app (so
# that a day's worker left running on Celery's own default, celery, never
# takes them, nor the API's worker a day's tasks); the webhooks that say a
# workflow has ended; and the maintenance that beat sends (the repair, the
# retention, the scheduled starts). A flood of one never delays another that
# has workers of its own. A worker started without -Q reads all three;
# `celery -A config worker -Q notifications` reads one.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "workflows")
NOTIFICATIONS_QUEUE = os.environ.get("NOTIFICATIONS_QUEUE", "notifications")
MAINTENANCE_QUEUE = os.environ.get("MAINTENANCE_QUEUE", "maintenance")
CELERY_TASK_QUEUES = [
    Queue(name) for name in (CELERY_TASK_DEFAULT_QUEUE, NOTIFICATIONS_QUEUE, MAINTENANCE_QUEUE)
]
# Tasks are routed by their names: steps.* take the default queue.
CELERY_TASK_ROUTES = {
    "webhooks.*": {"queue": NOTIFICATIONS_QUEUE},
    "maintenance.*": {"queue": MAINTENANCE_QUEUE},
}
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Report STARTED when a worker picks a step up, not only PENDING and SUCCESS.
CELERY_TASK_TRACK_STARTED = True
# A request that cannot reach the broker or Redis answers 503 within seconds
# rather than hanging until the client gives up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2

# No step is lost when a worker dies. Chapter 9 (api/chapters/09_keeping_work_safe.md)
# tells each fault and what handles it.
#
# A step's message is acknowledged after the step has run, not before: a
# worker that dies in the middle leaves it unacknowledged, and the broker
# hands it to another worker.
CELERY_TASK_ACKS_LATE = True
# Also when only the pool process running the step dies (killed, out of
# memory): the worker gives the message back rather than failing the step.
# Celery warns that this "can cause message loops": a step that kills its
# process every time would run forever. JobStep (runs/base.py) counts those
# runs in the database and fails the step after three.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each process of a worker reserves one message at a time, so that a dead
# worker held no more than it was running.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A step may therefore run twice: when its worker died after it had finished
# but before the broker heard so, or when the broker restarted meanwhile. Here
# that is harmless. Each step is a pure function of its inputs, and JobStep
# looks up the step's row first: a step that has already succeeded hands on
# its recorded result rather than run again. A task of your own that sends an
# email or charges a card must make the same check (keyed by its task id)
# before you copy these settings.

# No step is lost when the broker goes away. The broker confirms each message
# it has taken (publisher confirms); a message it never confirmed is sent again.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# A worker publishes a step's next step after the step has its result; while
# that fails, it tries again for about 80 s, rather than fail a step that has
# done its work. (A worker that loses its own connection to the broker stops
# its steps instead: below. The API, which must answer at once, tries once
# more only: runs/jobs.py.)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 40,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
}
# A worker waits for the broker when it starts, and reconnects by itself,
# however long the broker is away.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# When a worker loses its connection to the broker, the steps it runs can no
# longer be acknowledged on it: the broker gives their messages to a worker
# again, whatever the run does. So the worker stops those runs at once (their
# pool processes are ended, as Celery advises and will do by default in 6.0),
# and each step runs again from its message, counting a lost run; a run that
# had recorded its result hands it on (JobStep). Left to go on, a run cut off
# with its worker (a partition) ran beside its own second run, and once, on
# this stack, the worker lost count of its pool's jobs after it reconnected:
# two of them hung until their time limit and failed their workflows.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# No step is lost when Redis goes away. A worker writes each step's STARTED and
# its result into the result store too (for AsyncResult), and Celery sends the
# next step only once that write has succeeded: while Redis is down, it tries
# again, waiting up to 10 s between tries with jitter, about two minutes in
# all, rather than fail a step (and lose the rest of its chain) on a
# connection error.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 20

# No step is lost when a worker is cut off the network, its machine still
# running (a partition). Nothing closes its connections then: each end learns
# that the other has gone only when it hears nothing for long enough.
#
# The broker learns it from heartbeats. The worker and RabbitMQ agree on the
# lower of their two intervals (Celery asks for 120 s, RabbitMQ offers 60 s);
# after two missed, RabbitMQ closes the connection and gives the steps the
# worker held to another worker. At 10 s (RabbitMQ's guide finds 5 to 20 s
# right for most deployments), that is about 20 s after the cut rather than
# two minutes and more, and the worker, which checks its side at the same
# rate, reconnects once the network is back.
CELERY_BROKER_HEARTBEAT = 10
# A step running in the cut-off worker writes to Redis and the database. A
# write on a connection whose other end has gone would wait for an answer
# until the step's time limit (Redis: Celery waits 120 s a try, 20 tries).
# Here each fails within seconds, and the step tries again once the network
# is back (JobStep: a lost connection is an error that can pass), or the
# worker stops it once it has missed the broker's heartbeats (above); its
# message, meanwhile, goes to a worker again (chapter 9).
CELERY_REDIS_SOCKET_TIMEOUT = 10
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {
        # libpq's own settings (its "Connection Strings" page): give up on a
        # connection that does not answer after 10 s of TCP keepalive probes,
        # or whose sent data has had no acknowledgement for 10 s.
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 10_000,
    }

# A hung step ends FAILURE rather than STARTED forever: at the soft limit
# Celery raises SoftTimeLimitExceeded in the step, and at the hard limit it
# kills the process that runs it. Both leave room for TASK_DELAY and for the
# minute and more that publishing the next step may wait for the broker.
CELERY_TASK_SOFT_TIME_LIMIT = float(os.environ.get("STEP_SOFT_TIME_LIMIT", "180"))
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30

# No step is lost when the database goes away. A step whose record cannot be
# written does not end: it is sent again for later (runs/base.py), for as long
# as the database stays away. Errors that can pass (a lost connection to the
# broker, Redis or the database) make a step try again for this long, in
# seconds, from its first such error, waiting half to all of 1 s, 2 s, 4 s …
# up to a minute between tries: long enough to ride out a restart of a few
# minutes. After that, its next such error fails it.
STEP_RETRY_FOR = float(os.environ.get("STEP_RETRY_FOR", "600"))

# Each step keeps what it logged while it ran, try after try, with its
# traceback if it failed (runs/steplogs.py): its last STEP_LOG_MAX_CHARS
# characters, so that a step that logs in a loop fills neither the database
# nor the API's answers. The API and the workflow's page say how much was cut.
STEP_LOG_MAX_CHARS = int(os.environ.get("STEP_LOG_MAX_CHARS", "10000"))

# No step is lost when its message is, nor when its end could not be recorded.
# Celery beat (`celery -A config beat`) sends the repair task every
# REPAIR_EVERY seconds; it looks at the steps whose record has not moved for
# STEP_STALLED_AFTER seconds, which must be longer than a step may wait in
# the queue, run (its hard time limit) or wait to retry: runs/repair.py says
# what it repairs, and how.
REPAIR_EVERY = float(os.environ.get("REPAIR_EVERY", "60"))
STEP_STALLED_AFTER = float(os.environ.get("STEP_STALLED_AFTER", str(CELERY_TASK_TIME_LIMIT + 90)))
# Finished workflows older than RETENTION_DAYS (30) are deleted, with their
# steps and their webhooks' records, by a task that beat sends every
# RETENTION_EVERY seconds (an hour), RETENTION_BATCH workflows per
# transaction (runs/retention.py). Running workflows are never deleted.
RETENTION_DAYS = float(os.environ.get("RETENTION_DAYS", "30"))
RETENTION_EVERY = float(os.environ.get("RETENTION_EVERY", "3600"))
RETENTION_BATCH = int(os.environ.get("RETENTION_BATCH", "500"))
CELERY_BEAT_SCHEDULE = {
    "repair-stalled-steps": {
        "task": "maintenance.repair",
        "schedule": REPAIR_EVERY,
        # A repair that waited for a worker past the next one is not needed.
        "options": {"expires": REPAIR_EVERY},
    },
    "delete-old-workflows": {
        "task": "maintenance.retention",
        "schedule": RETENTION_EVERY,
        "options": {"expires": RETENTION_EVERY},
    },
}
# Beat reads its schedule from the database (django-celery-beat): the entries
# above, which it writes there when it starts, and the schedules users make
# (schedules/). One beat for the whole deployment, never two: each would send
# every task.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Webhooks (webhooks/): each is signed as the Standard Webhooks specification
# says, with WEBHOOK_SECRET (whsec_ and base64; `python -c "import
# base64,os;print('whsec_'+base64.b64encode(os.urandom(32)).decode())"`
# makes one). Without it, a workflow cannot ask for a webhook. A URL whose
# host is a private, loopback or link-local address is refused, unless the
# host is in WEBHOOK_ALLOWED_HOSTS (comma separated).
WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET", "")
WEBHOOK_ALLOWED_HOSTS = [
    host.strip() for host in os.environ.get("WEBHOOK_ALLOWED_HOSTS", "").split(",") if host.strip()
]
# A webhook is tried WEBHOOK_MAX_ATTEMPTS times at most (webhooks/tasks.py),
# each waiting WEBHOOK_TIMEOUT seconds for an answer; between two, a wait drawn
# from nothing to WEBHOOK_BACKOFF seconds doubled with every attempt, at most
# WEBHOOK_BACKOFF_MAX. The repair sends again a pending webhook whose record has
# not moved for WEBHOOK_STALLED_AFTER seconds: its task was lost.
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", "5"))
WEBHOOK_BACKOFF = float(os.environ.get("WEBHOOK_BACKOFF", "5"))
WEBHOOK_BACKOFF_MAX = float(os.environ.get("WEBHOOK_BACKOFF_MAX", "600"))
WEBHOOK_STALLED_AFTER = float(
    os.environ.get("WEBHOOK_STALLED_AFTER", str(WEBHOOK_BACKOFF_MAX + WEBHOOK_TIMEOUT + 300))
)

# Metrics for Prometheus (runs/metrics.py; api/README.md, "Metrics"). The API
# serves what its processes counted at /metrics to a request that sends
# `Authorization: Bearer METRICS_TOKEN`; without METRICS_TOKEN, there is no
# such page (404). A worker started with METRICS_PORT serves what its
# processes counted on that port (config/worker_metrics.py), on
# METRICS_ADDRESS: this machine only unless set. A service of several processes
# (gunicorn's, a worker's pool) needs PROMETHEUS_MULTIPROC_DIR too, a
# directory of its own, which prometheus_client reads from the environment.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_PORT = int(os.environ.get("METRICS_PORT") or 0)
METRICS_ADDRESS = os.environ.get("METRICS_ADDRESS", "127.0.0.1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO"},
        "runs": {"handlers": ["console"], "level": "INFO"},
    },
}
