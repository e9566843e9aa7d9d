"""Who may use the API and the pages, and whose workflows each user sees.

Every request needs a user, by token or by session, unless
``API_ALLOW_ANONYMOUS`` is on (one reader on their own machine). A workflow
belongs to the user who started it: another user cannot tell it exists (its
URL answers 404, as for an id nobody issued), and staff see every workflow.
With anonymous access on, every workflow is the anonymous reader's.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from rest_framework.permissions import BasePermission

from .models import Workflow


def anonymous_allowed():
    return settings.API_ALLOW_ANONYMOUS


class SignedIn(BasePermission):
    """A user, by token or session; anyone when anonymous access is on."""

    def has_permission(self, request, view):
        return anonymous_allowed() or request.user.is_authenticated


def owner_of_new(request):
    """Who a workflow started by ``request`` belongs to: nobody, for an anonymous reader."""
    return request.user if request.user.is_authenticated else None


def visible_workflows(user):
    """The workflows ``user`` may see: their own; all of them for staff, or with anonymous access."""
    if anonymous_allowed() or user.is_staff:
        return Workflow.objects.all()
    return Workflow.objects.filter(owner=user)


def signed_in(view):
    """A page that needs a user: without one, the login page, then back to the page."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if anonymous_allowed() or request.user.is_authenticated:
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return guarded
