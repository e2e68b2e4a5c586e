"""`check_invariants` passes on sound data and names each kind of broken row."""

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from invoicing.models import Invoice, InvoiceNumberCounter
from invoicing.services.billing import billing_run
from invoicing.usage import fixed_usage
from tests.invoicing.factories import make_contract

pytestmark = pytest.mark.django_db


def billed_contract():
    contract = make_contract()
    billing_run(now=datetime(2026, 3, 5, tzinfo=UTC), usage=fixed_usage({"api_calls": 1000}))
    return contract


def run(capsys, *args):
    call_command("check_invariants", *args)
    return capsys.readouterr().out


def test_sound_data_passes(capsys):
    billed_contract()
    assert Invoice.objects.filter(number__isnull=False).count() == 2
    out = run(capsys, "--only", "invoicing")
    assert "BROKEN" not in out
    assert "invoice_totals" in out and "All 4 invariant checks passed." in out


def test_a_draft_whose_total_disagrees_with_its_lines_is_reported(capsys):
    contract = billed_contract()
    draft = Invoice.objects.filter(contract=contract, status="draft").first()
    if draft is None:  # every period finalized: make a draft for the current one
        billing_run(now=datetime(2026, 4, 1, 1, tzinfo=UTC), usage=fixed_usage({"api_calls": 5}))
        draft = Invoice.objects.get(contract=contract, status="draft")
    Invoice.objects.filter(pk=draft.pk).update(total=draft.total + 1)
    with pytest.raises(CommandError, match="1 of 4"):
        run(capsys, "--only", "invoicing")
    out = capsys.readouterr().out
    assert f"draft #{draft.pk}: total {draft.total + 1}" in out


def test_a_gap_in_numbering_is_reported(capsys):
    billed_contract()
    counter = InvoiceNumberCounter.objects.get()
    with connection.cursor() as cursor:  # what a max()+1 bug or a lost finalization leaves
        cursor.execute("UPDATE invoicing_invoicenumbercounter SET last_value = last_value + 1")
    with pytest.raises(CommandError):
        run(capsys, "--only", "gapless")
    assert f"series {counter.series}: counter at {counter.last_value + 1}" in (
        capsys.readouterr().out
    )
