from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from runs.access import owner_of_new, visible_workflows
from runs.limits import StartRateThrottle
from runs.pagination import PageNumbers
from runs.parsers import JSONParser
from runs.serializers import WorkflowSerializer
from runs.views import ERROR, INVALID

from . import periodic
from .access import visible_schedules
from .models import Schedule
from .schema import CREATE_REQUEST
from .serializers import ScheduleSerializer


@extend_schema(tags=["schedules"])
class ScheduleViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Start a test case's workflow on a schedule: every N seconds, or on a crontab.

    Celery beat sends the start each time the schedule is due; each workflow
    it starts is an ordinary one of the schedule's owner, and names its
    schedule (``GET /api/schedules/{id}/workflows/`` lists them). Pause,
    resume, or delete a schedule; its workflows stay.
    """

    serializer_class = ScheduleSerializer
    pagination_class = PageNumbers
    parser_classes = (JSONParser,)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Schedule.objects.none()
        return visible_schedules(self.request.user)

    def get_throttles(self):
        # A schedule starts workflows: making one counts as a start (API_START_RATE).
        return [StartRateThrottle()] if self.action == "create" else []

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise Http404(f"no schedule has the id {self.kwargs['pk']!r}") from None

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = periodic.create(
            data["testcase"],
            data["job_data"],
            every=data.get("every"),
            crontab=data.get("crontab"),
            owner=owner_of_new(self.request),
            notify_url=data.get("notify_url", ""),
        )

    @extend_schema(
        request={"application/json": CREATE_REQUEST},
        responses={201: ScheduleSerializer, 400: INVALID},
    )
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    @extend_schema(responses={204: None, 404: OpenApiResponse(ERROR)})
    def destroy(self, request, *args, **kwargs):
        """Delete the schedule: beat no longer sends it. Its workflows stay."""
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        periodic.delete(instance)

    @extend_schema(request=None, responses={200: ScheduleSerializer, 404: OpenApiResponse(ERROR)})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop starting workflows until resumed; beat reads the change within 5 s."""
        return self.enabled(False)

    @extend_schema(request=None, responses={200: ScheduleSerializer, 404: OpenApiResponse(ERROR)})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Start workflows again: the next one, an interval from now (or at the crontab's time)."""
        return self.enabled(True)

    def enabled(self, enabled):
        schedule = periodic.set_enabled(self.get_object(), enabled)
        return Response(self.get_serializer(schedule).data)

    @extend_schema(
        request=None,
        responses={200: WorkflowSerializer(many=True), 404: OpenApiResponse(ERROR)},
    )
    @action(detail=True, methods=["get"])
    def workflows(self, request, pk=None):
        """The workflows the schedule started, newest first."""
        schedule = self.get_object()
        workflows = (
            visible_workflows(request.user).filter(schedule=schedule).prefetch_related("steps")
        )
        page = self.paginate_queryset(workflows)
        serializer = WorkflowSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)
