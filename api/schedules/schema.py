"""The body that makes a schedule, exactly, for the OpenAPI schema (/api/schema/).

It is the body that starts a workflow (``runs.schema.testcase_request``: one
test case and its job data, and notify_url where the server can sign a
webhook), and one of ``every`` or ``crontab``: one alternative for each test
case and each of the two, so that a client (or schemathesis) can tell a body
the API takes from one it refuses.
"""

from runs.schema import testcase_request
from runs.testcases import TESTCASES

from .serializers import CRON_NUMBERS, MOST_SECONDS, cron_pattern

EVERY = {
    "type": "integer",
    "minimum": 1,
    "maximum": MOST_SECONDS,
    "description": "Seconds between two runs, from 1 to a year",
    "example": 60,
}
CRONTAB = {
    "type": "object",
    "description": "When it runs, in UTC, as cron says; a field not given is *",
    "properties": {
        name: {
            "type": "string",
            "pattern": cron_pattern(number),
            "maxLength": longest,
            "description": f"{numbers}: *, */15, 5, 1-5, 1-30/2, or a list such as 0,30",
        }
        for name, (number, numbers, longest) in CRON_NUMBERS.items()
    },
    "additionalProperties": False,
    "example": {"minute": "0", "hour": "6", "day_of_week": "1-5"},
}
WHEN = {"every": EVERY, "crontab": CRONTAB}


def schedule_request(name, when):
    body = testcase_request(name)
    return {
        **body,
        "title": f"{name}, {when}",
        "properties": {**body["properties"], when: WHEN[when]},
        "required": [*body["required"], when],
    }


CREATE_REQUEST = {
    "description": (
        "What to start, as POST /api/workflows/ takes it, and when: every (seconds) or crontab, "
        "not both."
    ),
    "oneOf": [schedule_request(name, when) for name in TESTCASES for when in WHEN],
    "example": {"testcase": "ESG-TC01", "job_data": TESTCASES["ESG-TC01"].example, "every": 60},
}
