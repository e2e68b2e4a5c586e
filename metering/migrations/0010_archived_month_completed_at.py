"""Archiving a month is detached first (a short lock) and written out after: ``completed_at``
tells a finished archive from one still being written (or interrupted, to be resumed)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("metering", "0009_partition_usage_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="archivedmonth",
            name="completed_at",
            field=models.DateTimeField(
                blank=True,
                null=True,
                help_text="When its rows were all written to the destination (empty: still "
                "being written; events_partitions --detach again for the month finishes it).",
            ),
        ),
        migrations.AlterField(
            model_name="archivedmonth",
            name="archived_at",
            field=models.DateTimeField(help_text="When the month was detached."),
        ),
        migrations.RunSQL(
            "UPDATE metering_archivedmonth SET completed_at = archived_at",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
