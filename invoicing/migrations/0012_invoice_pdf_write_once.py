"""An issued invoice's PDF is rendered after its finalization commits (issue 15): its ``pdf``
column may go once from empty to a file name, and never change after that. Every other frozen
column stays as 0002 froze it."""

from django.db import migrations

FROZEN_COLUMNS = (
    "number", "series", "currency", "total", "period_start", "period_end", "customer_id",
    "contract_id", "kind", "issued_at", "due_at", "replaces_id", "finalize_after",
)


def _guard(columns: tuple[str, ...], pdf_rule: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION invoicing_invoice_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'invoice % is % and cannot be deleted', OLD.id, OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND ((({", ".join(f"NEW.{c}" for c in columns)})
     IS DISTINCT FROM ({", ".join(f"OLD.{c}" for c in columns)})){pdf_rule}) THEN
    RAISE EXCEPTION 'invoice % is % and cannot be changed', OLD.id, OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
"""


WRITE_ONCE = _guard(
    FROZEN_COLUMNS, "\n     OR (OLD.pdf <> '' AND NEW.pdf IS DISTINCT FROM OLD.pdf)"
)
FROZEN = _guard((*FROZEN_COLUMNS, "pdf"), "")


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0011_entitlements")]

    operations = [migrations.RunSQL(WRITE_ONCE, reverse_sql=FROZEN)]
