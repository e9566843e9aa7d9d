from django.db import migrations


class Migration(migrations.Migration):
    dependencies = (("runs", "0003_steps_of_existing_workflows"),)

    operations = (migrations.RemoveField(model_name="workflow", name="task_ids"),)
