"""Invariants 3, 4 and 9 as database checks (see billingsite/invariants.py).

The currency checks back the composite (parent id, currency) foreign keys of migrations 0005
and 0006:
with those in place they find nothing, and they say so if a key was ever dropped."""

from collections.abc import Iterator

from django.db.models import Count, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from billingsite.invariants import Violation, invariant
from invoicing.models import (
    CreditEntry,
    CreditGrant,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
)

_ZERO = Value(0, output_field=DecimalField(max_digits=20, decimal_places=6))


@invariant(3, "an invoice total equals the sum of its lines")
def invoice_totals() -> Iterator[Violation]:
    rows = (
        Invoice.objects.annotate(lines_sum=Coalesce(Sum("lines__amount"), _ZERO))
        .exclude(total=F("lines_sum"))
        .values_list("pk", "number", "total", "lines_sum")
    )
    for pk, number, total, lines_sum in rows.iterator():
        yield Violation(
            f"invoice {number or f'draft #{pk}'}", f"total {total} but lines sum to {lines_sum}"
        )


@invariant(3, "issued numbers are gapless in every series (invoices and credit notes)")
def numbers_gapless() -> Iterator[Violation]:
    """Numbers are ``<series>-<n>``; each series must use exactly 1..counter, once each."""
    used: dict[str, list[int]] = {}
    numbered = [Invoice.objects.exclude(number__isnull=True), CreditNote.objects.all()]
    for queryset in numbered:
        for number in queryset.values_list("number", flat=True).iterator():
            series, _, value = number.rpartition("-")
            used.setdefault(series, []).append(int(value))
    for counter in InvoiceNumberCounter.objects.all():
        values = sorted(used.pop(counter.series, []))
        if values != list(range(1, counter.last_value + 1)):
            missing = sorted(set(range(1, counter.last_value + 1)) - set(values))[:10]
            yield Violation(
                f"series {counter.series}",
                f"counter at {counter.last_value}, {len(values)} numbers used; missing {missing}",
            )
    for series in used:
        yield Violation(f"series {series}", "numbers issued without a counter row")


@invariant(4, "each contract and period has exactly one invoice")
def one_invoice_per_period() -> Iterator[Violation]:
    rows = (
        Invoice.objects.filter(replaces__isnull=True)
        .values("contract_id", "period_start", "period_end", "kind")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    for row in rows:
        yield Violation(
            f"contract #{row['contract_id']}",
            f"{row['n']} {row['kind']} invoices for "
            f"{row['period_start']:%Y-%m-%d} to {row['period_end']:%Y-%m-%d}",
        )


@invariant(9, "no credit grant is drawn below zero")
def credit_balances_non_negative() -> Iterator[Violation]:
    rows = (
        CreditGrant.objects.annotate(balance=Coalesce(Sum("entries__amount"), _ZERO))
        .filter(Q(balance__lt=0))
        .values_list("pk", "currency", "balance")
    )
    for pk, currency, balance in rows.iterator():
        yield Violation(f"credit grant #{pk}", f"balance {balance} {currency}")


@invariant(3, "invoice lines, credit notes and their lines are in their invoice's currency")
def invoice_currencies() -> Iterator[Violation]:
    lines = InvoiceLine.objects.exclude(currency=F("invoice__currency")).values_list(
        "pk", "invoice_id", "currency", "invoice__currency"
    )
    for pk, invoice_id, currency, expected in lines.iterator():
        yield Violation(
            f"invoice line #{pk}", f"in {currency}, invoice #{invoice_id} in {expected}"
        )
    notes = CreditNote.objects.exclude(currency=F("invoice__currency")).values_list(
        "number", "currency", "invoice__currency"
    )
    for number, currency, expected in notes.iterator():
        yield Violation(f"credit note {number}", f"in {currency}, its invoice in {expected}")
    note_lines = CreditNoteLine.objects.exclude(currency=F("credit_note__currency")).values_list(
        "pk", "credit_note__number", "currency", "credit_note__currency"
    )
    for pk, number, currency, expected in note_lines.iterator():
        yield Violation(f"credit note line #{pk}", f"in {currency}, note {number} in {expected}")


@invariant(9, "credit ledger entries are in their grant's currency")
def credit_entry_currencies() -> Iterator[Violation]:
    rows = CreditEntry.objects.exclude(currency=F("grant__currency")).values_list(
        "pk", "grant_id", "currency", "grant__currency"
    )
    for pk, grant_id, currency, expected in rows.iterator():
        yield Violation(f"credit entry #{pk}", f"in {currency}, grant #{grant_id} in {expected}")


@invariant(9, "a paid credit purchase was granted once, for its amount; others not at all")
def credit_purchases_granted() -> Iterator[Violation]:
    """Backs the check constraint with the amounts: a succeeded purchase's grant is paid credit
    of the purchase's amount and currency (docs/credits.md)."""
    from invoicing.models import CreditPurchase

    rows = CreditPurchase.objects.filter(status="succeeded").exclude(
        grant__amount=F("amount"), grant__currency=F("currency"), grant__kind="paid"
    )
    for pk, key in rows.values_list("pk", "idempotency_key").iterator():
        yield Violation(f"credit purchase #{pk}", f"{key}: its grant does not match it")
    stray = CreditPurchase.objects.exclude(status="succeeded").filter(grant__isnull=False)
    for pk in stray.values_list("pk", flat=True).iterator():
        yield Violation(f"credit purchase #{pk}", "granted without a succeeded payment")
