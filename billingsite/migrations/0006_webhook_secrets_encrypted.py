"""Webhook signing secrets encrypted at rest (billingsite.fieldcrypt): widen the columns to text,
encrypt the rows already there, then hand the columns to EncryptedTextField. Reversible: the
reverse decrypts every row back to plain text (with the keys configured when it runs)."""

from django.db import migrations, models

import billingsite.fieldcrypt


def _convert(apps, schema_editor, convert):  # type: ignore[no-untyped-def]
    endpoint_model = apps.get_model("billingsite", "WebhookEndpoint")
    rows = endpoint_model.objects.using(schema_editor.connection.alias)
    for pk, secret, previous in rows.values_list("pk", "secret", "previous_secret").iterator():
        rows.filter(pk=pk).update(
            secret=convert(secret) if secret else secret,
            previous_secret=convert(previous) if previous else previous,
        )


def encrypt_rows(apps, schema_editor):  # type: ignore[no-untyped-def]
    _convert(apps, schema_editor, billingsite.fieldcrypt.encrypt)


def decrypt_rows(apps, schema_editor):  # type: ignore[no-untyped-def]
    _convert(apps, schema_editor, billingsite.fieldcrypt.decrypt)


class Migration(migrations.Migration):

    dependencies = [
        ("billingsite", "0005_webhooks"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=models.TextField(),
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows, elidable=False),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=billingsite.fieldcrypt.EncryptedTextField(),
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=billingsite.fieldcrypt.EncryptedTextField(blank=True),
        ),
    ]
