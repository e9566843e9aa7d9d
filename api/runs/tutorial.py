"""The old tutorial's two commands, at the site root, as the tutorial wrote them.

The tutorial this course grew from started a workflow with a form POST to
``/`` and asked for its tasks' states with a GET that carried a form body.
Neither is how the API would be designed today (``/api/workflows/`` is), but
a reader who follows the tutorial must find both commands working, so they
live here, apart from the API, and answer from the same serializer and the
same records.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from .access import owner_of_new, visible_workflows
from .limits import StartRateThrottle
from .models import task_states
from .schema import START_REQUEST
from .serializers import TaskListSerializer, WorkflowSerializer
from .views import ERROR, INVALID


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
            # The serializer's url is DRF's Hyperlink, a str of its own kind, which
            # Django's development server (wsgiref) refuses in a header: a plain str.
            headers={"Location": str(serializer.data["url"])},
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
