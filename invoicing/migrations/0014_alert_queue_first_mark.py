"""Alert queue: claim customers by how long they have waited (``queued_since``), not by their
latest mark, so a customer whose events keep coming is not pushed to the back of the queue."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0013_credit_purchases"),
    ]

    operations = [
        migrations.AddField(
            model_name="alertdirtycustomer",
            name="queued_since",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunSQL(
            "UPDATE invoicing_alertdirtycustomer SET queued_since = marked_at",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="alertdirtycustomer",
            name="queued_since",
            field=models.DateTimeField(),
        ),
    ]
