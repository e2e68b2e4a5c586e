"""Refund, dispute and ledger amounts become django-money MoneyFields on the row's ``currency``.

No SQL: the columns keep their names and numeric(24, 4) type, so every stored amount is kept as
it is. Only the migration state changes, and it re-adds each amount *after* ``currency``:
rendered with the amount first, django-money would add a second field named ``currency`` to the
historical model (two ``currency`` fields, which breaks any later RunPython on these models).
"""

import djmoney.models.fields
from django.db import migrations


def money_field(model_name, name, **options):
    return migrations.SeparateDatabaseAndState(state_operations=[
        migrations.RemoveField(model_name=model_name, name=name),
        migrations.AddField(model_name=model_name, name=name, field=djmoney.models.fields.MoneyField(
            currency_field_name="currency", decimal_places=4, max_digits=24, **options)),
    ])


class Migration(migrations.Migration):

    dependencies = [
        ("disputes", "0001_initial"),
    ]

    operations = [
        money_field("dispute", "amount"),
        money_field("historicaldispute", "amount"),
        money_field("historicalrefund", "amount"),
        money_field("ledgerentry", "amount", help_text="Debit positive, credit negative."),
        money_field("refund", "amount"),
    ]
