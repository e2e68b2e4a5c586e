"""Database guards for invariants 3 and 9: issued invoices, their lines and ledger entries
cannot be changed by any code path (admin, shell, raw SQL), only by new rows."""

from django.db import migrations

FROZEN_COLUMNS = (
    "number", "series", "currency", "total", "period_start", "period_end", "customer_id",
    "contract_id", "kind", "issued_at", "due_at", "pdf", "replaces_id", "finalize_after",
)

INVOICE_GUARD = f"""
CREATE OR REPLACE FUNCTION invoicing_invoice_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'invoice % is % and cannot be deleted', OLD.id, OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND ({", ".join(f"NEW.{c}" for c in FROZEN_COLUMNS)})
     IS DISTINCT FROM ({", ".join(f"OLD.{c}" for c in FROZEN_COLUMNS)}) THEN
    RAISE EXCEPTION 'invoice % is % and cannot be changed', OLD.id, OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER invoicing_invoice_guard BEFORE UPDATE OR DELETE ON invoicing_invoice
  FOR EACH ROW EXECUTE FUNCTION invoicing_invoice_guard();
"""

LINE_GUARD = """
CREATE OR REPLACE FUNCTION invoicing_invoiceline_guard() RETURNS trigger AS $$
DECLARE
  parent_status text;
  parent_id bigint;
BEGIN
  parent_id := CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
  SELECT status INTO parent_status FROM invoicing_invoice WHERE id = parent_id;
  IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
    RAISE EXCEPTION 'lines of invoice % (%) cannot be changed', parent_id, parent_status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
    RAISE EXCEPTION 'a line cannot move to another invoice'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER invoicing_invoiceline_guard BEFORE INSERT OR UPDATE OR DELETE
  ON invoicing_invoiceline FOR EACH ROW EXECUTE FUNCTION invoicing_invoiceline_guard();
"""

LEDGER_GUARD = """
CREATE OR REPLACE FUNCTION invoicing_creditentry_guard() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'credit ledger entries are append-only'
    USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER invoicing_creditentry_guard BEFORE UPDATE OR DELETE ON invoicing_creditentry
  FOR EACH ROW EXECUTE FUNCTION invoicing_creditentry_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS invoicing_invoice_guard ON invoicing_invoice;
DROP FUNCTION IF EXISTS invoicing_invoice_guard();
DROP TRIGGER IF EXISTS invoicing_invoiceline_guard ON invoicing_invoiceline;
DROP FUNCTION IF EXISTS invoicing_invoiceline_guard();
DROP TRIGGER IF EXISTS invoicing_creditentry_guard ON invoicing_creditentry;
DROP FUNCTION IF EXISTS invoicing_creditentry_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0001_initial")]

    operations = [
        migrations.RunSQL(INVOICE_GUARD + LINE_GUARD + LEDGER_GUARD, reverse_sql=DROP),
    ]
