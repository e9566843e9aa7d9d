from django.db import migrations, models


class Migration(migrations.Migration):
    """Each step's log, and the history of its states for the timeline; the existing
    steps: an empty log, and no history (the timeline draws them from their times)."""

    dependencies = (("runs", "0008_idempotencykey"),)

    operations = (
        migrations.AddField(
            model_name="step",
            name="log",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="step",
            name="log_cut",
            field=models.PositiveIntegerField(
                default=0, help_text="Characters cut from the start of the log to keep it short"
            ),
        ),
        migrations.AddField(
            model_name="step",
            name="history",
            field=models.JSONField(blank=True, default=list),
        ),
    )
