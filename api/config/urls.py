"""The API's URLs.

- ``/``: the old tutorial's two commands (start a workflow; the states of task ids)
- ``/api/workflows/``, ``/api/testcases/``, ``/api/health/``: the API
- ``/api/schema/``: its OpenAPI 3 schema; ``/api/docs/``: the schema as an interactive page
"""

from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from runs.views import RootView

urlpatterns = [
    path("", RootView.as_view(), name="root"),
    path("api/", include("runs.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The docs page's scripts and styles, from the drf-spectacular-sidecar
    # package. Django serves them itself, DEBUG or not: a few files for one
    # page. A site with a web server in front would rather run collectstatic
    # and let that server send them.
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]

handler400 = "runs.exceptions.bad_request"
handler403 = "runs.exceptions.permission_denied"
handler404 = "runs.exceptions.not_found"
handler500 = "runs.exceptions.server_error"
