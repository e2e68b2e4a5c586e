import django.db.models
from django.db import migrations

import metering.models.meters


class Migration(migrations.Migration):
    """Meters get a unit label ("requests", "GB", "tokens") shown after every quantity."""

    dependencies = [
        ("metering", "0006_event_log_sink"),
    ]

    operations = [
        migrations.AddField(
            model_name="meter",
            name="unit",
            field=django.db.models.CharField(
                blank=True,
                default="",
                help_text='What one unit of usage is, shown after every quantity ("requests", '
                '"GB", "tokens"); empty for none. A label only: it does not change how usage '
                "is counted.",
                max_length=32,
                validators=[metering.models.meters.meter_unit_validator],
            ),
            preserve_default=False,
        ),
    ]
