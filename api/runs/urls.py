from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("workflows", views.WorkflowViewSet, basename="workflow")
router.register("testcases", views.TestcaseViewSet, basename="testcase")

urlpatterns = [
    path("health/", views.health, name="health"),
    path("", include(router.urls)),
    path("", include("schedules.urls")),
]
