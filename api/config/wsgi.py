"""The WSGI entry point, for a server such as gunicorn: ``gunicorn config.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

from config.serving import refuse_without_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

refuse_without_secret_key()
application = get_wsgi_application()
