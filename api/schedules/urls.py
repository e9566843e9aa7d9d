"""The schedules' API, under /api/ (runs/urls.py includes it): /api/schedules/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("schedules", views.ScheduleViewSet, basename="schedule")

urlpatterns = [path("", include(router.urls))]
