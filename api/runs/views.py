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
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from . import jobs
from .access import owner_of_new, visible_workflows
from .health import check_services
from .limits import StartRateThrottle
from .models import Workflow, task_states
from .parsers import JSONParser
from .schema import START_REQUEST
from .serializers import (
    TaskListSerializer,
    TestcaseSerializer,
    WorkflowSerializer,
)
from .testcases import TESTCASES, operand_count

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})
INVALID = OpenApiResponse(
    {"type": "object", "additionalProperties": True},
    description="The body names each field that is wrong, and why",
)


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
    # JSON bodies only: a form's job_data would be JSON text inside a form,
    # which no OpenAPI schema can describe. The old tutorial's form still
    # works at the site root (RootView), and the pages have their own form.
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

    def perform_create(self, serializer):
        serializer.save(owner=owner_of_new(self.request))

    @extend_schema(
        request={"application/json": START_REQUEST},
        responses={
            202: WorkflowSerializer,
            400: INVALID,
            503: OpenApiResponse(ERROR, description="The broker is not reachable"),
        },
    )
    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        # Accepted, not created: the workflow runs from now on.
        response.status_code = status.HTTP_202_ACCEPTED
        return response

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
            409: OpenApiResponse(ERROR, description="The workflow has already finished"),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Revoke the steps that have not finished; a step already running finishes first."""
        workflow = jobs.cancel(self.get_object())
        return Response(self.get_serializer(workflow).data)

    @extend_schema(
        request=None,
        responses={
            202: WorkflowSerializer,
            404: OpenApiResponse(ERROR),
            409: OpenApiResponse(ERROR, description="The test case no longer exists"),
            503: OpenApiResponse(ERROR, description="The broker is not reachable"),
        },
    )
    @action(detail=True, methods=["post"])
    def relaunch(self, request, pk=None):
        """Start a new workflow with the same test case and job data."""
        return self.accepted(jobs.relaunch(self.get_object()))

    @extend_schema(
        request=None,
        responses={
            202: WorkflowSerializer,
            404: OpenApiResponse(ERROR),
            409: OpenApiResponse(
                ERROR, description="The workflow is running or has succeeded: nothing to resume"
            ),
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
        return self.accepted(jobs.resume(self.get_object()))

    def accepted(self, workflow):
        """202 Accepted, with the new workflow and its Location."""
        data = self.get_serializer(workflow).data
        return Response(
            data, status=status.HTTP_202_ACCEPTED, headers=self.get_success_headers(data)
        )


def describe_testcase(name):
    testcase = TESTCASES[name]
    steps = [
        {"name": step, "task": f"steps.{step}", "operands": operand_count(position)}
        for position, step in enumerate(testcase.steps)
    ]
    return {
        "name": name,
        "steps": steps,
        "job_data": {
            step["name"]: "a list of 2 numbers" if step["operands"] == 2 else "a list of 1 number"
            for step in steps
        },
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


@extend_schema(tags=["the old tutorial"])
class RootView(APIView):
    """The site root, where the old tutorial's two commands keep working.

    ``curl -d 'testcase=ESG-TC02' -d 'job_data={"div" : [4, 2], "mul" : [3]}' -X POST http://localhost:8000``
    starts a workflow and answers its task ids, in workflow order.

    ``curl -d 'task_list=["<id>","<id>"]' -X GET http://localhost:8000`` answers
    each task's state, by id: a form body sent with GET, as the tutorial did,
    or ``?task_list=[...]`` in the query string. An id that the API never
    issued is UNKNOWN. Without a task list, the root lists the API's links.
    """

    def get_throttles(self):
        return [StartRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "task_list",
                {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 100},
                description='A JSON array of task ids: ?task_list=["<id>", "<id>"], 100 at most',
                required=False,
            )
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Each task's state, by id; or, without task_list, the API's links",
            ),
            400: OpenApiResponse(
                {"type": "object", "additionalProperties": True},
                description="task_list is not a JSON array of task ids",
            ),
            503: OpenApiResponse(ERROR, description="The result store is not reachable"),
        },
    )
    def get(self, request):
        """Each task's state, by id (the tutorial's second command); without task_list, the links."""
        data = request.data if hasattr(request.data, "get") else {}
        task_list = request.query_params.get("task_list", data.get("task_list"))
        if task_list is None:
            return Response(self.links(request))
        serializer = TaskListSerializer(data={"task_list": task_list})
        serializer.is_valid(raise_exception=True)
        mine = visible_workflows(request.user)
        return Response(task_states(serializer.validated_data["task_list"], mine))

    @extend_schema(
        # The old tutorial sends the same two fields as a form, job_data as JSON
        # text, and that works too; the schema gives the JSON body, which it
        # can describe exactly.
        request={"application/json": START_REQUEST},
        responses={
            202: OpenApiResponse(
                {"type": "array", "items": {"type": "string"}},
                description="The steps' task ids, in workflow order",
            ),
            400: INVALID,
            503: OpenApiResponse(ERROR, description="The broker is not reachable"),
        },
    )
    def post(self, request):
        """Start a workflow; answer its steps' task ids in order (the tutorial's first command)."""
        serializer = WorkflowSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        serializer.save(owner=owner_of_new(request))
        return Response(
            serializer.data["task_ids"],
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": serializer.data["url"]},
        )

    @staticmethod
    def links(request):
        return {
            name: reverse(view, request=request)
            for name, view in [
                ("workflows", "workflow-list"),
                ("testcases", "testcase-list"),
                ("health", "health"),
                ("schema", "schema"),
                ("docs", "docs"),
                ("pages", "workflow-pages"),
            ]
        }
