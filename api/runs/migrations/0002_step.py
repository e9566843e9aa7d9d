import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = (("runs", "0001_initial"),)

    operations = (
        migrations.AddField(
            model_name="workflow",
            name="resumed_from",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="resumed_by",
                to="runs.workflow",
            ),
        ),
        migrations.CreateModel(
            name="Step",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(help_text="0 for the first step")),
                ("name", models.CharField(max_length=50)),
                (
                    "task_id",
                    models.CharField(blank=True, max_length=255, null=True, unique=True),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("PENDING", "PENDING"),
                            ("STARTED", "STARTED"),
                            ("RETRY", "RETRY"),
                            ("SUCCESS", "SUCCESS"),
                            ("FAILURE", "FAILURE"),
                            ("REVOKED", "REVOKED"),
                        ],
                        default="PENDING",
                        max_length=10,
                    ),
                ),
                ("result", models.JSONField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tries",
                    models.PositiveIntegerField(
                        default=0, help_text="How many times the step started"
                    ),
                ),
                (
                    "lost_runs",
                    models.PositiveSmallIntegerField(
                        default=0,
                        help_text="Runs that ended with their worker process, before they could finish",
                    ),
                ),
                (
                    "workflow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="runs.workflow",
                    ),
                ),
            ],
            options={
                "ordering": ("position",),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("workflow", "position"), name="one_step_per_position"
                    )
                ],
            },
        ),
    )
