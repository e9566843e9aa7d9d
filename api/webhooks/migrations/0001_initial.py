import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The webhook of a workflow's end, and every attempt to deliver it."""

    initial = True

    dependencies = (("runs", "0007_workflow_notify_url_schedule"),)

    operations = (
        migrations.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("url", models.URLField(max_length=2000)),
                ("body", models.TextField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("delivered", "delivered"),
                            ("failed", "failed"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "workflow",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notification",
                        to="runs.workflow",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Attempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(help_text="When the request was sent")),
                (
                    "status",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        help_text="The receiver's HTTP status; none if it did not answer",
                        null=True,
                    ),
                ),
                (
                    "error",
                    models.TextField(blank=True, help_text="Why the attempt did not deliver it"),
                ),
                (
                    "duration",
                    models.FloatField(blank=True, help_text="Seconds until the answer", null=True),
                ),
                (
                    "notification",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempts",
                        to="webhooks.notification",
                    ),
                ),
            ],
            options={
                "ordering": ("at", "id"),
            },
        ),
    )
