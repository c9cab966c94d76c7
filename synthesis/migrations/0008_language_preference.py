# The UI language a user chose (issue 12): a row of its own, no change to synthesis_job.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("synthesis", "0007_job_versions"),
    ]

    operations = [
        migrations.CreateModel(
            name="LanguagePreference",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("language", models.CharField(max_length=15)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
