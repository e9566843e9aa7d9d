"""What the WSGI and ASGI entry points check before they serve."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_without_secret_key():
    """Stop a server that would run without a secret key of its own.

    A server signs with SECRET_KEY; settings.py leaves it empty, rather than
    public, when DJANGO_SECRET_KEY is not set and DEBUG is off.
    """
    if not settings.DEBUG and not os.environ.get("DJANGO_SECRET_KEY"):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: the API will not serve without a secret key of its own. "
            "Set it (see .env.example), or set DJANGO_DEBUG=1 to serve for development."
        )
