from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("disputes", "0002_money_fields")]

    operations = [
        migrations.CreateModel(
            name="ExportCursor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("dataset", models.CharField(max_length=64)),
                ("destination", models.CharField(help_text="The folder written to (absolute path).", max_length=500)),
                ("format", models.CharField(help_text="csv or parquet.", max_length=16)),
                ("version", models.PositiveIntegerField(help_text="The dataset's schema version at the last run.")),
                ("position", models.JSONField(blank=True, help_text="The last key written (JSON); empty = from the start.", null=True)),
                ("last_run_at", models.DateTimeField(blank=True, null=True)),
                ("last_file", models.CharField(blank=True, max_length=500)),
                ("last_rows", models.PositiveBigIntegerField(default=0)),
                ("total_rows", models.PositiveBigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["dataset", "destination", "format"],
                "permissions": [("view_finance_dashboard", "Can view the finance dashboard")],
                "constraints": [
                    models.UniqueConstraint(fields=("dataset", "destination", "format"), name="exportcursor_one_per_folder")
                ],
            },
        ),
    ]
