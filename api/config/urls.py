"""The API's URLs.

- ``/``: the old tutorial's two commands (start a workflow; the states of task ids)
- ``/api/workflows/``, ``/api/schedules/``, ``/api/testcases/``, ``/api/health/``: the API
- ``/api/schema/``: its OpenAPI 3 schema; ``/api/docs/``: the schema as an interactive page
- ``/accounts/login/``, ``/accounts/logout/``: the pages' login (Django's own views)
- ``/workflows/``: the workflows as web pages, and a form that starts one;
  ``/workflows/{id}/``: one workflow's steps, updated while it runs
- ``/schedules/``: the user's schedules, their pause, resume and delete buttons, and a
  form that adds one
- ``/metrics``: what the API's processes counted, for Prometheus, with METRICS_TOKEN
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from runs import metrics, pages
from runs.tutorial import RootView
from schedules import pages as schedule_pages

urlpatterns = [
    path("", RootView.as_view(), name="root"),
    path("api/", include("runs.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workflows/", pages.workflow_list, name="workflow-pages"),
    path("workflows/<uuid:pk>/", pages.workflow_detail, name="workflow-page"),
    path("workflows/<uuid:pk>/live/", pages.workflow_live, name="workflow-page-live"),
    re_path(
        r"^workflows/(?P<pk>[0-9a-f-]{36})/(?P<action>cancel|relaunch|resume)/$",
        pages.workflow_action,
        name="workflow-page-action",
    ),
    path("schedules/", schedule_pages.schedule_list, name="schedule-pages"),
    # Where Prometheus looks by default, without a slash; not part of the API's schema.
    path("metrics", metrics.exposition, name="metrics"),
    re_path(
        r"^schedules/(?P<pk>[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})/(?P<action>pause|resume|delete)/$",
        schedule_pages.schedule_action,
        name="schedule-page-action",
    ),
]

handler400 = "runs.exceptions.bad_request"
handler403 = "runs.exceptions.permission_denied"
handler404 = "runs.exceptions.not_found"
handler500 = "runs.exceptions.server_error"
