from django.db import migrations, models


class Migration(migrations.Migration):
    """When each step's row last changed, for the repair task; the existing rows: now."""

    dependencies = (("runs", "0005_workflow_owner"),)

    operations = (
        migrations.AddField(
            model_name="step",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddIndex(
            model_name="step",
            index=models.Index(
                condition=models.Q(state__in=("PENDING", "STARTED", "RETRY")),
                fields=["updated_at"],
                name="steps_not_ended",
            ),
        ),
    )
