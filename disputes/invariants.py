"""Invariants 5 and 9 for refunds and the dispute ledger (see billingsite/invariants.py)."""

from collections.abc import Iterator

from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billingsite.invariants import Violation, invariant
from billingsite.money import format_amount
from disputes.models import LedgerEntry, Refund
from disputes.states import RESERVING
from invoicing.models import Payment

_ZERO = Value(0, output_field=DecimalField(max_digits=20, decimal_places=6))


@invariant(5, "refunds never exceed what was captured")
def refunds_within_captured() -> Iterator[Violation]:
    reserved = (
        Refund.objects.filter(payment=OuterRef("pk"), status__in=RESERVING)
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    rows = (
        Payment.objects.annotate(refunded=Coalesce(Subquery(reserved), _ZERO))
        .filter(refunded__gt=F("amount_captured"))
        .values_list("pk", "currency", "amount_captured", "refunded")
    )
    for pk, currency, captured, refunded in rows.iterator():
        yield Violation(
            f"payment #{pk}",
            f"refunds {format_amount(refunded, currency)} "
            f"{currency} exceed the captured {format_amount(captured, currency)}",
        )


@invariant(5, "each ledger posting balances to zero")
def ledger_postings_balance() -> Iterator[Violation]:
    rows = (
        LedgerEntry.objects.values("posting_key", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    for row in rows:
        yield Violation(
            f"posting {row['posting_key']}",
            f"entries sum to {row['total']} {row['currency']}, not zero",
        )
