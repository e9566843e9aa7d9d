import functools

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from . import idempotency, jobs
from .access import owner_of_new, visible_workflows
from .health import check_services
from .limits import StartRateThrottle
from .models import Workflow
from .pagination import PageNumbers
from .parsers import JSONParser
from .schema import START_REQUEST
from .serializers import (
    TestcaseSerializer,
    WorkflowSerializer,
)
from .testcases import TESTCASES

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})
INVALID = OpenApiResponse(
    {"type": "object", "additionalProperties": True},
    description="The body names each field that is wrong, and why",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    {"type": "string", "pattern": idempotency.PATTERN},
    OpenApiParameter.HEADER,
    description=(
        "A key of yours for this start, such as a UUID: 1 to 255 printable ASCII characters, "
        'bare (Stripe\'s form) or as a quoted string ("..."). Sent again with the same request '
        "within 24 hours, it answers the workflow that the first request started, and starts "
        "nothing."
    ),
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    {"type": "string", "enum": ["true"]},
    OpenApiParameter.HEADER,
    response=[202],
    description="The workflow was started by an earlier request with this Idempotency-Key",
)
INVALID_KEY = OpenApiResponse(
    {"type": "object", "additionalProperties": True},
    description="The body names each field that is wrong, or the Idempotency-Key header, and why",
)
KEY_REUSED = OpenApiResponse(
    ERROR, description="The Idempotency-Key started a workflow for another request"
)
KEY_IN_USE = "the first request with this Idempotency-Key is still being answered"


@extend_schema(tags=["workflows"])
class WorkflowViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Start a test case's workflow, list the workflows, read one's steps; cancel, relaunch
    or resume one.

    ``POST /api/workflows/`` answers 202 Accepted at once: the steps run on a
    Celery worker, and ``GET /api/workflows/{id}/`` follows them.
    """

    serializer_class = WorkflowSerializer
    # ?page=N, as the schema says: anything else answers 400 naming page.
    pagination_class = PageNumbers
    # JSON bodies only: a form's job_data would be JSON text inside a form,
    # which no OpenAPI schema can describe. The old tutorial's form still
    # works at the site root (runs/tutorial.py), and the pages have their own form.
    parser_classes = (JSONParser,)
    #: The actions that start a workflow, which StartRateThrottle counts.
    starts = frozenset({"create", "relaunch", "resume"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular describes the API without a request, nor a user.
            return Workflow.objects.none()
        # The user's own workflows (staff: all); one query for them, one for
        # all their steps, however many.
        return visible_workflows(self.request.user).prefetch_related("steps")

    def get_throttles(self):
        return [StartRateThrottle()] if self.action in self.starts else []

    @extend_schema(
        request={"application/json": START_REQUEST},
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={
            202: WorkflowSerializer,
            400: INVALID_KEY,
            409: OpenApiResponse(ERROR, description=KEY_IN_USE.capitalize()),
            422: KEY_REUSED,
            503: OpenApiResponse(ERROR, description="The broker is not reachable"),
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner = owner_of_new(request)

        def start(store_with):
            # The serializer's fields are jobs.start's arguments; store_with
            # stores the request's Idempotency-Key with the workflow.
            return jobs.start(**serializer.validated_data, owner=owner, store_with=store_with)

        return self.accepted(*idempotency.start_once(request, start))

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise Http404(f"no workflow has the id {self.kwargs['pk']!r}") from None

    @extend_schema(
        request=None,
        responses={
            200: WorkflowSerializer,
            404: OpenApiResponse(ERROR),
            409: OpenApiResponse(
                ERROR,
                description="The workflow ended (SUCCESS or FAILURE) without being cancelled",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Revoke the steps that have not started; a step already running runs to its end.

        The workflow reads REVOKED at once, while a running step still reads
        STARTED; once that step ends, its FAILURE makes the workflow FAILURE,
        and so does its SUCCESS make it SUCCESS if it was the last step. A
        workflow cancelled before answers 200 again, unchanged.
        """
        workflow = jobs.cancel(self.get_object())
        return Response(self.get_serializer(workflow).data)

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={
            202: WorkflowSerializer,
            400: INVALID_KEY,
            404: OpenApiResponse(ERROR),
            409: OpenApiResponse(
                ERROR, description=f"The test case no longer exists, or {KEY_IN_USE}"
            ),
            422: KEY_REUSED,
            503: OpenApiResponse(ERROR, description="The broker is not reachable"),
        },
    )
    @action(detail=True, methods=["post"])
    def relaunch(self, request, pk=None):
        """Start a new workflow with the same test case and job data."""
        workflow = self.get_object()
        return self.accepted(
            *idempotency.start_once(request, functools.partial(jobs.relaunch, workflow))
        )

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={
            202: WorkflowSerializer,
            400: INVALID_KEY,
            404: OpenApiResponse(ERROR),
            409: OpenApiResponse(
                ERROR,
                description="The workflow is running or has succeeded: nothing to resume; "
                f"or {KEY_IN_USE}",
            ),
            422: KEY_REUSED,
            503: OpenApiResponse(ERROR, description="The broker is not reachable"),
        },
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Continue a FAILURE or REVOKED workflow from its first step that did not succeed.

        A new workflow starts: the steps that succeeded are carried over with
        their results and do not run again; the first one that did not is
        handed the last one's result.
        """
        workflow = self.get_object()
        return self.accepted(
            *idempotency.start_once(request, functools.partial(jobs.resume, workflow))
        )

    def accepted(self, workflow, replayed=False):
        """202 Accepted, with the new workflow and its Location; ``replayed``: the workflow that
        an earlier request with the same Idempotency-Key started, which the header says."""
        data = self.get_serializer(workflow).data
        headers = self.get_success_headers(data)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        # Accepted, not created: the workflow runs from now on.
        return Response(data, status=status.HTTP_202_ACCEPTED, headers=headers)


def describe_testcase(name):
    testcase = TESTCASES[name]
    return {
        "name": name,
        "steps": [
            {"name": step, "task": f"steps.{step}", "operands": needs.count}
            for step, needs in testcase.needs.items()
        ],
        "job_data": {step: needs.described for step, needs in testcase.needs.items()},
        "example": testcase.example,
    }


@extend_schema(tags=["testcases"])
class TestcaseViewSet(viewsets.ViewSet):
    """The test cases a workflow can run: their steps, and the job data each needs."""

    serializer_class = TestcaseSerializer
    lookup_field = "name"
    # What the test cases are is no secret: anyone may ask.
    permission_classes = (AllowAny,)

    @extend_schema(responses=TestcaseSerializer(many=True))
    def list(self, request):
        return Response([describe_testcase(name) for name in TESTCASES])

    @extend_schema(
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, description="ESG-TC01")],
        responses={200: TestcaseSerializer, 404: OpenApiResponse(ERROR)},
    )
    def retrieve(self, request, name=None):
        if name not in TESTCASES:
            raise Http404(f"no test case is called {name!r}: choose one of {', '.join(TESTCASES)}")
        return Response(describe_testcase(name))


@extend_schema(
    tags=["health"],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="Every service answers"),
        503: OpenApiResponse(
            OpenApiTypes.OBJECT, description="A service does not: `detail` names it"
        ),
    },
)
@api_view(["GET"])
@permission_classes([AllowAny])  # for load balancers and docker compose's health check
def health(request):
    """Whether the broker, the result store and the database answer."""
    problems = check_services()
    down = [name for name, problem in problems.items() if problem]
    body = {
        "status": "unavailable" if down else "ok",
        "services": {name: problem or "ok" for name, problem in problems.items()},
    }
    if down:
        body["detail"] = f"not reachable: {', '.join(down)}"
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response(body)
