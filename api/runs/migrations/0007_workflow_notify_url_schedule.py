import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Where a workflow's webhook goes, and the schedule that started it; existing rows: neither."""

    dependencies = (
        ("runs", "0006_step_updated_at"),
        ("schedules", "0001_initial"),
    )

    operations = (
        migrations.AddField(
            model_name="workflow",
            name="notify_url",
            field=models.URLField(blank=True, max_length=2000),
        ),
        migrations.AddField(
            model_name="workflow",
            name="schedule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="workflows",
                to="schedules.schedule",
            ),
        ),
    )
