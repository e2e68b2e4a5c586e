"""Invoice totals and invoice line amounts become django-money MoneyFields.

- ``Invoice.total`` shares the invoice's ``currency`` column: no SQL, the column is unchanged
  (the 0002 immutability trigger keeps guarding it by name).
- ``InvoiceLine`` gets a ``currency`` column filled from its invoice. Lines of issued invoices
  are frozen by the 0002 trigger, so the fill runs with that trigger disabled for the one
  UPDATE, inside this migration's transaction; no amount or other column is touched.
- A composite foreign key (invoice_id, currency) -> invoice (id, currency) (the unique pair
  added in 0005) keeps every line in its invoice's currency, whatever writes it. Not
  deferrable: a line in another currency fails at its INSERT.

Amounts are re-added in the state *after* ``currency`` (see disputes 0002 for why).
"""

import accounts.models
import billingsite.moneyfields
import djmoney.models.fields
from django.db import migrations, models


def money_field(model_name, name, **options):
    return migrations.SeparateDatabaseAndState(state_operations=[
        migrations.RemoveField(model_name=model_name, name=name),
        migrations.AddField(model_name=model_name, name=name, field=djmoney.models.fields.MoneyField(
            currency_field_name="currency", decimal_places=4, max_digits=24, **options)),
    ])


FILL = """
ALTER TABLE invoicing_invoiceline DISABLE TRIGGER invoicing_invoiceline_guard;
UPDATE invoicing_invoiceline l SET currency = i.currency
  FROM invoicing_invoice i WHERE l.invoice_id = i.id;
ALTER TABLE invoicing_invoiceline ENABLE TRIGGER invoicing_invoiceline_guard;
"""

FOREIGN_KEY = """
ALTER TABLE invoicing_invoiceline ADD CONSTRAINT invoiceline_invoice_currency_fk
  FOREIGN KEY (invoice_id, currency) REFERENCES invoicing_invoice (id, currency);
"""

DROP_FOREIGN_KEY = """
ALTER TABLE invoicing_invoiceline DROP CONSTRAINT invoiceline_invoice_currency_fk;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_usage_links_and_sign_ins"),
        ("invoicing", "0005_money_fields"),
    ]

    operations = [
        money_field("invoice", "total", default=billingsite.moneyfields.zero_amount),
        money_field("historicalinvoice", "total", default=billingsite.moneyfields.zero_amount),
        migrations.AddField(
            model_name="invoiceline", name="currency",
            field=models.CharField(
                default="", max_length=3, validators=[accounts.models.validate_currency],
                help_text="The invoice's currency; an (invoice, currency) foreign key keeps "
                          "them equal."),
            preserve_default=False,
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        money_field("invoiceline", "amount"),
        migrations.RunSQL(FOREIGN_KEY, DROP_FOREIGN_KEY),
    ]
