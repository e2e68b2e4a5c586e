"""Contract terms on invoices: amendments splitting lines, overrides, commits, discounts,
credits in DESIGN order, voids giving credits back, late usage adjustments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billingsite.errors import AppError
from invoicing.models import CreditEntry, Invoice, InvoiceLine
from invoicing.selectors.credits import grant_balance
from invoicing.services.billing import billing_run
from invoicing.services.contracts import AmendmentInput, commit_create, contract_amend
from invoicing.services.credits import credit_grant_create
from invoicing.services.invoices import invoice_finalize, invoice_reissue, invoice_void
from invoicing.services.previews import amendment_preview
from tests.invoicing.factories import PLATFORM_FEE, make_contract, make_version, per_day

pytestmark = pytest.mark.django_db


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def lines(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount.amount) for line in invoice.lines.order_by("position")]


def test_multiplier_amendment_mid_period_splits_the_usage_line():
    contract = make_contract()
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 16),
            note="Volume deal",
            overrides=(
                {"charge_key": "api_calls", "kind": "multiplier", "multiplier": Decimal("0.5")},
            ),
        ),
    )
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=100))
    invoice = Invoice.objects.get()
    usage = list(invoice.lines.filter(kind="usage").order_by("position"))
    assert [(ln.quantity, ln.amount.amount) for ln in usage] == [
        (Decimal(1500), Decimal("15.00")),
        (Decimal(1600), Decimal("8.00")),
    ]
    assert (usage[0].period_start, usage[0].period_end) == (at(2026, 1, 1), at(2026, 1, 16))
    assert (usage[1].period_start, usage[1].period_end) == (at(2026, 1, 16), at(2026, 2, 1))
    assert usage[0].overrides == []
    assert usage[1].overrides[0]["kind"] == "multiplier"
    assert usage[1].price == {"model": "per_unit", "unit_amount": "0.005"}
    # The fixed fee is not split by an override of another charge.
    assert invoice.lines.filter(kind="fixed").count() == 1
    assert invoice.total.amount == Decimal("123.00")
    assert contract.amendments.get().changes["overrides"]


def test_plan_version_switch_prorates_both_fees():
    contract = make_contract()
    bigger = make_version([{**PLATFORM_FEE, "price": {"model": "flat", "amount": "200.00"}}])
    contract_amend(
        contract=contract,
        change=AmendmentInput(effective_date=date(2026, 1, 16), plan_version=bigger),
    )
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=0))
    fixed = Invoice.objects.get().lines.filter(kind="fixed").order_by("position")
    # 100 * 15/31 = 48.387 -> 48.39; 200 * 16/31 = 103.225 -> 103.23
    assert [ln.amount.amount for ln in fixed] == [Decimal("48.39"), Decimal("103.23")]


def test_tiers_override_and_overwrite():
    contract = make_contract(
        version=make_version(
            [
                {
                    "key": "calls",
                    "name": "Calls",
                    "kind": "usage",
                    "meter_key": "api_calls",
                    "price": {
                        "model": "graduated",
                        "tiers": [
                            {"up_to": "100", "unit_amount": "1"},
                            {"up_to": None, "unit_amount": "0.5"},
                        ],
                    },
                }
            ]
        )
    )
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 1),
            overrides=(
                {
                    "charge_key": "calls",
                    "kind": "tiers",
                    "tiers": [
                        {"up_to": "1000", "unit_amount": "0.1"},
                        {"up_to": None, "unit_amount": "0.05"},
                    ],
                },
            ),
        ),
    )
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=50))  # 1550 units
    assert lines(Invoice.objects.get()) == [("usage", Decimal("127.50"))]  # 100 + 27.50


def test_invalid_override_is_refused_with_a_clear_error():
    contract = make_contract()
    with pytest.raises(AppError) as caught:
        contract_amend(
            contract=contract,
            change=AmendmentInput(
                effective_date=date(2026, 1, 1),
                overrides=(
                    {
                        "charge_key": "api_calls",
                        "kind": "overwrite",
                        "price": {"model": "per_unit", "unit_amount": "-1"},
                    },
                ),
            ),
        )
    assert caught.value.code == "invalid_price"
    assert not contract.overrides.exists()


def test_amendment_cannot_reach_into_an_invoiced_period():
    contract = make_contract()
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=1))
    with pytest.raises(AppError) as caught:
        contract_amend(contract=contract, change=AmendmentInput(effective_date=date(2026, 1, 20)))
    assert caught.value.code == "amendment_too_early"


def test_amendment_preview_changes_nothing():
    contract = make_contract()
    change = AmendmentInput(
        effective_date=date(2026, 1, 16),
        overrides=({"charge_key": "api_calls", "kind": "multiplier", "multiplier": Decimal("2")},),
    )
    impact = amendment_preview(
        contract=contract, change=change, at=at(2026, 1, 10), usage=per_day(api_calls=100)
    )
    assert impact.before.total == Decimal("131.00")  # 100 + 3100 * 0.01
    assert impact.after.total == Decimal("147.00")  # 100 + 15 + 1600 * 0.02
    assert impact.difference == Decimal("16.00")
    assert not contract.overrides.exists() and not contract.amendments.exists()


def test_credits_apply_in_design_order_and_ledger_matches():
    contract = make_contract()
    customer = contract.customer
    base = {"customer": customer, "currency": "USD", "effective_at": at(2025, 12, 1)}
    never_expires = credit_grant_create(kind="promotional", amount="100.00", **base)
    expires_soon = credit_grant_create(
        kind="paid", amount="20.00", expires_at=at(2026, 6, 1), **base
    )
    high_priority = credit_grant_create(kind="paid", amount="30.00", priority=1, **base)
    promo_same = credit_grant_create(kind="promotional", amount="5.00", priority=1, **base)
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=0))
    invoice = Invoice.objects.get()
    credits = list(invoice.lines.filter(kind="credit").order_by("position"))
    assert [(c.credit_grant_id, c.amount.amount) for c in credits] == [
        (expires_soon.pk, Decimal("-20.00")),
        (promo_same.pk, Decimal("-5.00")),
        (high_priority.pk, Decimal("-30.00")),
        (never_expires.pk, Decimal("-45.00")),
    ]
    assert invoice.total.amount == Decimal("0.00")
    assert grant_balance(never_expires.pk) == Decimal("55.00")
    assert grant_balance(expires_soon.pk) == Decimal("0")
    entries = CreditEntry.objects.filter(invoice=invoice, kind="drawdown")
    assert sorted(e.amount for e in entries) == sorted(c.amount for c in credits)


def test_void_gives_credits_back_once_and_reissue_draws_again():
    contract = make_contract()
    grant = credit_grant_create(
        customer=contract.customer,
        kind="promotional",
        amount="50.00",
        currency="USD",
        effective_at=at(2025, 1, 1),
    )
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=0))
    invoice = Invoice.objects.get()
    assert grant_balance(grant.pk) == Decimal("0")
    invoice_void(invoice=invoice, reason="Wrong address", now=at(2026, 2, 4))
    assert grant_balance(grant.pk) == Decimal("50.00")
    with pytest.raises(AppError):
        invoice_void(invoice=invoice, reason="again", now=at(2026, 2, 4))
    reissue = invoice_reissue(invoice=invoice, now=at(2026, 2, 4))
    done = invoice_finalize(invoice_id=reissue.pk, usage=per_day(api_calls=0), now=at(2026, 2, 4))
    assert done is not None and done.number == "INV-000002"
    assert done.total.amount == Decimal("50.00")
    assert grant_balance(grant.pk) == Decimal("0")
    # The billing run does not draft the voided period again.
    billing_run(now=at(2026, 2, 5), usage=per_day(api_calls=0))
    assert Invoice.objects.count() == 2


def test_minimum_commit_true_up_and_discounts():
    contract = make_contract()
    commit_create(
        contract=contract, kind="minimum", amount="500.00", effective_from=date(2026, 1, 1)
    )
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 1),
            discounts=(
                {
                    "name": "10% off",
                    "kind": "percentage",
                    "value": Decimal(10),
                    "duration": "recurring",
                },
                {"name": "Welcome", "kind": "fixed", "value": Decimal(5), "duration": "once"},
            ),
        ),
    )
    billing_run(now=at(2026, 3, 3), usage=per_day(api_calls=100))
    jan, feb = Invoice.objects.order_by("period_start")
    assert lines(jan) == [
        ("fixed", Decimal("100.00")),
        ("usage", Decimal("31.00")),
        ("true_up", Decimal("369.00")),
        ("discount", Decimal("-50.00")),
        ("discount", Decimal("-5.00")),
    ]
    assert jan.total.amount == Decimal("445.00")
    assert lines(feb)[-1] == ("discount", Decimal("-50.00"))
    assert feb.total.amount == Decimal("450.00")


def test_prepaid_commit_is_invoiced_once_and_drawn_down():
    contract = make_contract()
    commit_create(
        contract=contract,
        kind="prepaid",
        amount="1000.00",
        effective_from=date(2026, 1, 1),
        effective_to=date(2027, 1, 1),
    )
    billing_run(now=at(2026, 3, 3), usage=per_day(api_calls=100))
    jan, feb = Invoice.objects.order_by("period_start")
    assert lines(jan) == [
        ("commit", Decimal("1000.00")),
        ("fixed", Decimal("100.00")),
        ("usage", Decimal("31.00")),
        ("credit", Decimal("-131.00")),
    ]
    assert lines(feb) == [
        ("fixed", Decimal("100.00")),
        ("usage", Decimal("28.00")),
        ("credit", Decimal("-128.00")),
    ]
    grant = contract.credit_grants.get()
    assert grant_balance(grant.pk) == Decimal("741.00")


def test_late_usage_becomes_an_adjustment_line_on_the_next_invoice(settings):
    # A usage source that cannot flag late events (metering can) relies on re-rating the
    # last issued periods every time.
    settings.INVOICING_LATE_USAGE_LOOKBACK_PERIODS = 2
    make_contract()
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=100))  # Jan: 3100 calls = 31.00
    jan = Invoice.objects.get()
    late = per_day(api_calls=120)  # January now reads 3720 calls = 37.20
    billing_run(now=at(2026, 3, 1, 1), usage=late)
    feb = Invoice.objects.get(period_start=at(2026, 2, 1))
    adjustment = feb.lines.get(kind="adjustment")
    assert adjustment.amount.amount == Decimal("6.20")
    assert adjustment.adjusts_invoice_id == jan.pk
    assert (adjustment.period_start, adjustment.period_end) == (at(2026, 1, 1), at(2026, 2, 1))
    billing_run(now=at(2026, 3, 3), usage=late)  # refresh + finalize: still one adjustment
    assert InvoiceLine.objects.filter(kind="adjustment").count() == 1
    billing_run(now=at(2026, 4, 3), usage=late)
    march = Invoice.objects.get(period_start=at(2026, 3, 1))
    assert not march.lines.filter(kind="adjustment").exists()
    assert jan.lines.get(kind="usage").amount.amount == Decimal("31.00")  # never changed


def test_expired_grant_gets_an_expiry_entry_and_pays_nothing_after():
    contract = make_contract()
    grant = credit_grant_create(
        customer=contract.customer,
        kind="promotional",
        amount="500.00",
        currency="USD",
        effective_at=at(2025, 1, 1),
        expires_at=at(2026, 2, 15),
    )
    billing_run(now=at(2026, 2, 3), usage=per_day(api_calls=0))  # January draws 100
    assert grant_balance(grant.pk) == Decimal("400.00")
    billing_run(now=at(2026, 3, 3), usage=per_day(api_calls=0))
    february = Invoice.objects.get(period_start=at(2026, 2, 1))
    assert not february.lines.filter(kind="credit").exists()
    expiry = CreditEntry.objects.get(grant=grant, kind="expiry")
    assert expiry.amount.amount == Decimal("-400.00")
    assert grant_balance(grant.pk) == Decimal("0")
    billing_run(now=at(2026, 3, 4), usage=per_day(api_calls=0))
    assert CreditEntry.objects.filter(grant=grant, kind="expiry").count() == 1


def test_finalize_reloads_terms_amended_after_they_were_prefetched():
    from invoicing.selectors.invoices import contracts_with_terms

    contract = make_contract()
    billing_run(now=at(2026, 2, 1, 1), usage=per_day(api_calls=100))
    stale = contracts_with_terms().get(pk=contract.pk)
    list(stale.overrides.all())  # prefetched before the amendment below
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(2026, 1, 1),
            overrides=(
                {"charge_key": "api_calls", "kind": "multiplier", "multiplier": Decimal(2)},
            ),
        ),
    )
    done = invoice_finalize(
        invoice_id=Invoice.objects.get().pk,
        now=at(2026, 2, 3),
        usage=per_day(api_calls=100),
        contract=stale,
    )
    assert done is not None
    assert done.lines.get(kind="usage").amount.amount == Decimal("62.00")
