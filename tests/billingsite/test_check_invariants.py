"""`check_invariants` passes on sound data and names each kind of broken row."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from invoicing.models import Invoice, InvoiceNumberCounter
from invoicing.services.billing import billing_run
from tests.factories import CustomerFactory
from tests.invoicing.factories import make_contract
from tests.usage_sources import fixed_usage

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
    assert "invoice_totals" in out and "All 7 invariant checks passed." in out


def test_a_draft_whose_total_disagrees_with_its_lines_is_reported(capsys):
    contract = billed_contract()
    draft = Invoice.objects.filter(contract=contract, status="draft").first()
    if draft is None:  # every period finalized: make a draft for the current one
        billing_run(now=datetime(2026, 4, 1, 1, tzinfo=UTC), usage=fixed_usage({"api_calls": 5}))
        draft = Invoice.objects.get(contract=contract, status="draft")
    Invoice.objects.filter(pk=draft.pk).update(total=draft.total.amount + 1)
    with pytest.raises(CommandError, match="1 of 7"):
        run(capsys, "--only", "invoicing")
    out = capsys.readouterr().out
    assert f"draft #{draft.pk}: total {draft.total.amount + 1}" in out


def test_a_gap_in_numbering_is_reported(capsys):
    billed_contract()
    counter = InvoiceNumberCounter.objects.get()
    with connection.cursor() as cursor:  # what a max()+1 bug or a lost finalization leaves
        cursor.execute("UPDATE invoicing_invoicenumbercounter SET last_value = last_value + 1")
    with pytest.raises(CommandError):
        run(capsys, "--only", "numbers_gapless")
    expected = f"series {counter.series}: counter at {counter.last_value + 1}, 2 numbers used"
    assert f"{expected}; missing [3]" in capsys.readouterr().out


def test_metering_checks_find_a_rollup_that_drifted(capsys):
    from metering.models import HourlyRollup
    from metering.services import events_ingest
    from metering.services.rollups import rollup_drain
    from tests.factories import CustomerFactory
    from tests.metering.helpers import create_meters, event

    CustomerFactory(external_id="acme")
    create_meters()
    result = events_ingest(api_key=None, events=[event("e1"), event("e2")])
    assert [o["status"] for o in result.events] == ["accepted", "accepted"]
    rollup_drain()
    assert "BROKEN" not in run(capsys, "--only", "metering")
    drifted = HourlyRollup.objects.first()
    HourlyRollup.objects.filter(pk=drifted.pk).update(value=999)
    with pytest.raises(CommandError):
        run(capsys, "--only", "metering")
    assert "stored=999" in capsys.readouterr().out


def test_dropping_the_event_id_constraint_is_reported(capsys):
    assert "BROKEN" not in run(capsys, "--only", "event_ids_unique")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE metering_usageeventkey DROP CONSTRAINT usageevent_unique_id")
    with pytest.raises(CommandError):
        run(capsys, "--only", "event_ids_unique")


def test_refunds_beyond_the_captured_amount_are_reported(capsys):
    from disputes.models import Refund
    from invoicing.models import Payment

    assert "BROKEN" not in run(capsys, "--only", "refunds_within_captured")
    customer = CustomerFactory(external_id="payer")
    payment = Payment.objects.create(
        customer=customer,
        currency="USD",
        amount=Decimal("50"),
        amount_captured=Decimal("50"),
        stripe_charge_id="ch_over",
    )
    for _ in range(2):  # what a missing row lock would let through
        Refund.objects.create(
            payment=payment,
            customer=customer,
            amount=Decimal("30"),
            currency="USD",
            reason="other",
            status="pending",
        )
    with pytest.raises(CommandError):
        run(capsys, "--only", "refunds_within_captured")
    assert "refunds 60.00 USD exceed the captured 50.00" in capsys.readouterr().out
