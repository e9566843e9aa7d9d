import uuid

from django.db import models

from .testcases import TESTCASES


class Workflow(models.Model):
    """A chain of steps started for a test case.

    The steps' states live in the result store (Redis), under their task ids;
    the database keeps what is needed to find them again: the ids, in the
    order the steps run.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    testcase = models.CharField(max_length=50)
    job_data = models.JSONField()
    task_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self):
        return f"{self.testcase} {self.id}"

    @property
    def steps(self):
        """The names of the steps, in order, as the test case declares them.

        A test case whose steps have changed since the workflow ran no longer
        names them: they are called "step 1", "step 2" … instead.
        """
        testcase = TESTCASES.get(self.testcase)
        if testcase and len(testcase.steps) == len(self.task_ids):
            return list(testcase.steps)
        return [f"step {number}" for number in range(1, len(self.task_ids) + 1)]
