"""Payments, credit grants and their ledger, and credit notes store amounts as django-money
MoneyFields sharing the row's ``currency`` column.

- Payment and CreditGrant already have ``currency``: their amount columns are unchanged (no
  SQL), only the migration state says MoneyField.
- CreditEntry, CreditNote (and its history) and CreditNoteLine get a ``currency`` column,
  filled from the grant, the invoice and the credit note. Credit entries are append-only (the
  0002 trigger refuses UPDATEs), so the fill runs with that trigger disabled for the one
  UPDATE, inside this migration's transaction.
- A composite foreign key (parent id, currency) -> parent (id, currency) then keeps every child
  in its parent's currency, whatever code path writes it (bulk_create, admin, raw SQL). It is
  not deferrable: a child with the wrong currency fails at its INSERT.

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


def currency_field(model_name, help_text):
    return migrations.AddField(
        model_name=model_name, name="currency",
        field=models.CharField(default="", help_text=help_text, max_length=3,
                               validators=[accounts.models.validate_currency]),
        preserve_default=False,
    )


GRANT_HELP = "The grant's currency; a (grant, currency) foreign key keeps them equal."
INVOICE_HELP = "The invoice's currency; an (invoice, currency) foreign key keeps them equal."
NOTE_HELP = "The note's currency; a (credit note, currency) foreign key keeps them equal."

FILL = """
ALTER TABLE invoicing_creditentry DISABLE TRIGGER invoicing_creditentry_guard;
UPDATE invoicing_creditentry e SET currency = g.currency
  FROM invoicing_creditgrant g WHERE e.grant_id = g.id;
ALTER TABLE invoicing_creditentry ENABLE TRIGGER invoicing_creditentry_guard;
UPDATE invoicing_creditnote n SET currency = i.currency
  FROM invoicing_invoice i WHERE n.invoice_id = i.id;
UPDATE invoicing_historicalcreditnote h SET currency = i.currency
  FROM invoicing_invoice i WHERE h.invoice_id = i.id;
UPDATE invoicing_creditnoteline l SET currency = n.currency
  FROM invoicing_creditnote n WHERE l.credit_note_id = n.id;
"""

FOREIGN_KEYS = """
ALTER TABLE invoicing_creditentry ADD CONSTRAINT creditentry_grant_currency_fk
  FOREIGN KEY (grant_id, currency) REFERENCES invoicing_creditgrant (id, currency);
ALTER TABLE invoicing_creditnote ADD CONSTRAINT creditnote_invoice_currency_fk
  FOREIGN KEY (invoice_id, currency) REFERENCES invoicing_invoice (id, currency);
ALTER TABLE invoicing_creditnoteline ADD CONSTRAINT creditnoteline_note_currency_fk
  FOREIGN KEY (credit_note_id, currency) REFERENCES invoicing_creditnote (id, currency);
"""

DROP_FOREIGN_KEYS = """
ALTER TABLE invoicing_creditentry DROP CONSTRAINT creditentry_grant_currency_fk;
ALTER TABLE invoicing_creditnote DROP CONSTRAINT creditnote_invoice_currency_fk;
ALTER TABLE invoicing_creditnoteline DROP CONSTRAINT creditnoteline_note_currency_fk;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_usage_links_and_sign_ins"),
        ("invoicing", "0004_credit_notes"),
    ]

    operations = [
        # Rows that already have a currency.
        money_field("payment", "amount", default=billingsite.moneyfields.zero_amount),
        money_field("payment", "amount_captured", default=billingsite.moneyfields.zero_amount),
        money_field("payment", "amount_refunded", default=billingsite.moneyfields.zero_amount),
        money_field("historicalpayment", "amount", default=billingsite.moneyfields.zero_amount),
        money_field("historicalpayment", "amount_captured",
                    default=billingsite.moneyfields.zero_amount),
        money_field("historicalpayment", "amount_refunded",
                    default=billingsite.moneyfields.zero_amount),
        money_field("creditgrant", "amount", help_text="Amount granted (the first ledger entry)."),
        money_field("historicalcreditgrant", "amount",
                    help_text="Amount granted (the first ledger entry)."),
        # Rows that get their parent's currency.
        currency_field("creditentry", GRANT_HELP),
        currency_field("creditnote", INVOICE_HELP),
        currency_field("historicalcreditnote", INVOICE_HELP),
        currency_field("creditnoteline", NOTE_HELP),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        money_field("creditentry", "amount", help_text="Signed: + adds credit, - uses it."),
        money_field("creditnote", "total"),
        money_field("historicalcreditnote", "total"),
        money_field("creditnoteline", "amount",
                    help_text="Positive: how much of the line is credited."),
        # The composite foreign keys and the unique (id, currency) pairs they point at.
        migrations.AddConstraint(
            model_name="creditgrant",
            constraint=models.UniqueConstraint(fields=("id", "currency"),
                                               name="creditgrant_id_currency"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.UniqueConstraint(fields=("id", "currency"),
                                               name="creditnote_id_currency"),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(fields=("id", "currency"),
                                               name="invoice_id_currency"),
        ),
        migrations.RunSQL(FOREIGN_KEYS, DROP_FOREIGN_KEYS),
    ]
