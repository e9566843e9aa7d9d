"""What the OpenAPI schema (/api/schema/) says beyond what drf-spectacular reads from the views.

``START_REQUEST`` is the body that starts a workflow, exactly: one test case
and the operands of each of its steps, as ``runs.serializers`` checks them, so
that a client (or a test generator such as schemathesis) can tell a body the
API accepts from one it refuses before sending it. ``document_refusals`` adds
the answers that come from outside the views (a missing user, a body too
large, too many starts), and their headers, to every operation they apply to.

A start may also ask for a webhook when the workflow ends (``notify_url``),
where the server can sign one: the schema offers it only when WEBHOOK_SECRET
is set, since every value would be refused otherwise.
"""

from django.conf import settings

from .testcases import TESTCASES

NUMBER = {"type": "number"}
DIVISOR = {"type": "number", "not": {"const": 0}}


def operands_schema(needs):
    """What a step ``needs`` (``testcases.Needs``) as JSON Schema: that many numbers, and
    if one divides, it is not 0.

    The count is said by ``minItems`` and ``maxItems``, each item a number,
    rather than by ``items: false`` after the ``prefixItems``: that says the
    same, but it is a boolean schema, which openapi-python-client cannot read.
    """
    schema = {"type": "array"}
    if needs.divisor:
        # The divisor is the last number.
        schema["prefixItems"] = [*[NUMBER] * (needs.count - 1), DIVISOR]
    return {**schema, "items": NUMBER, "minItems": needs.count, "maxItems": needs.count}


#: A start's notify_url (webhooks/): where the webhook of the workflow's end goes.
NOTIFY_URL = {
    "type": "string",
    "format": "uri",
    "pattern": "^https?://",
    "maxLength": 2000,
    "description": (
        "Where to POST a signed webhook (Standard Webhooks) when the workflow ends: an http or "
        "https URL whose host is a public address, or one of WEBHOOK_ALLOWED_HOSTS"
    ),
}


def testcase_request(name):
    steps = TESTCASES[name].needs
    webhook = {"notify_url": NOTIFY_URL} if settings.WEBHOOK_SECRET else {}
    return {
        "type": "object",
        "title": name,
        "properties": {
            "testcase": {"const": name},
            "job_data": {
                "type": "object",
                "properties": {step: operands_schema(needs) for step, needs in steps.items()},
                "required": list(steps),
                "additionalProperties": False,
                "example": TESTCASES[name].example,
            },
            **webhook,
        },
        "required": ["testcase", "job_data"],
        "additionalProperties": False,
    }


START_REQUEST = {
    "description": (
        "A test case and its job data: the operands of every step, under the step's name; "
        "two numbers for the first step, one for each later step; div's divisor is not 0."
    ),
    "oneOf": [testcase_request(name) for name in TESTCASES],
    "example": {"testcase": "ESG-TC01", "job_data": TESTCASES["ESG-TC01"].example},
}

ERROR = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before starting another workflow",
        "schema": {"type": "integer"},
    }
}
LOCATION = {
    "Location": {
        "description": "The new workflow, to follow with GET",
        "schema": {"type": "string", "format": "uri"},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "How to authenticate: Token",
        "schema": {"type": "string"},
    }
}

BAD_PAGE = {
    "description": "page is not a whole number from 1, or is given more than once",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"page": {"type": "array", "items": {"type": "string"}}},
                "required": ["page"],
            }
        }
    },
}

# Query parameters whose value is JSON text.
JSON_PARAMETERS = {"task_list"}
# What needs no user (runs.access): the test cases, the health check, the schema and its page.
OPEN = ("/api/testcases/", "/api/health/", "/api/schema/", "/api/docs/")
# What starts a workflow, and so counts against API_START_RATE (runs.limits).
STARTS = {
    ("/", "post"),
    ("/api/workflows/", "post"),
    ("/api/workflows/{id}/relaunch/", "post"),
    ("/api/workflows/{id}/resume/", "post"),
}


def error(description, headers=None):
    answer = {"description": description, "content": {"application/json": {"schema": ERROR}}}
    if headers:
        answer["headers"] = headers
    return answer


def any_value(schema):
    """Any JSON value, null included, as one schema: OpenAPI 3.1's oneOf of
    "anything" and null, which drf-spectacular writes for a nullable JSONField,
    matches null twice, and oneOf means exactly one."""
    if isinstance(schema, dict):
        if {} in schema.get("oneOf", ()):
            del schema["oneOf"]
        for value in schema.values():
            any_value(value)
    elif isinstance(schema, list):
        for item in schema:
            any_value(item)


def document_refusals(result, generator, request, public):
    """drf-spectacular's postprocessing hook (SPECTACULAR_SETTINGS in config/settings.py)."""
    any_value(result["components"])
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                if parameter["name"] in JSON_PARAMETERS:
                    # The value is JSON text: ?task_list=["<id>"], not ?task_list=<id>&...
                    parameter["content"] = {"application/json": {"schema": parameter.pop("schema")}}
            responses = operation["responses"]
            if not path.startswith(OPEN):
                responses.setdefault(
                    "401",
                    error(
                        "No token or session, or a wrong one: the body says how to authenticate",
                        WWW_AUTHENTICATE,
                    ),
                )
            if method == "get" and any(p["in"] == "query" for p in operation.get("parameters", ())):
                # gunicorn (api/gunicorn.conf.py) refuses the request before the API sees it.
                responses.setdefault(
                    "414",
                    {
                        "description": "The URL is longer than the server reads (8,190 characters)",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                )
            if "{" in path:
                responses.setdefault("404", error("No such one, or not yours to see"))
            if any(parameter["name"] == "page" for parameter in operation.get("parameters", ())):
                # runs.pagination.PageNumbers
                responses.setdefault("400", BAD_PAGE)
                responses.setdefault("404", error("No such page"))
            if "requestBody" in operation:
                # Every body the API reads is needed: without one, 400.
                operation["requestBody"]["required"] = True
                responses.setdefault("413", error("The body is larger than the API reads (64 KiB)"))
                responses.setdefault("415", error("The body is not JSON"))
            if (path, method) in STARTS:
                responses.setdefault(
                    "429", error("Too many workflows started: API_START_RATE", RETRY_AFTER)
                )
            if "202" in responses and path.startswith("/api/"):
                responses["202"].setdefault("headers", {}).update(LOCATION)
    return result
