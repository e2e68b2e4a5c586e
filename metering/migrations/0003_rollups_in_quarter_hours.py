"""Rollups moved from hourly to 15-minute buckets: rebuild them from stored events."""

from django.db import migrations


def rebuild(apps, schema_editor):
    from metering.meter_sql import spans_for
    from metering.services.rollups import METER_DEFINITIONS_LOCK, apply_span

    meter_version = apps.get_model("metering", "MeterVersion")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [METER_DEFINITIONS_LOCK])
        cursor.execute("DELETE FROM metering_hourlyrollup")
        cursor.execute("DELETE FROM metering_uniquevalue")
        versions = list(meter_version.objects.all())
        for meter_id in sorted({v.meter_id for v in versions}):
            for span in spans_for([v for v in versions if v.meter_id == meter_id]):
                apply_span(cursor, span, source="backfill")


class Migration(migrations.Migration):
    dependencies = [("metering", "0002_unattributedevent")]

    operations = [migrations.RunPython(rebuild, migrations.RunPython.noop)]
