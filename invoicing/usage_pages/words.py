"""What the customer reads on the usage pages, in their words: how a credit note was applied
(not the back office's "Feed a refund"), its reason without our internal refund numbers, and
forecasts of counted meters as whole numbers (a forecast of "41.67 API calls" reads as noise)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from invoicing.models import CreditNote
from invoicing.models.credit_notes import CreditNoteOutcome
from metering.models import Aggregation

HUNDREDTH = Decimal("0.01")
COUNTED = frozenset({Aggregation.COUNT, Aggregation.UNIQUE_COUNT})
APPLIED_AS = {
    CreditNoteOutcome.REDUCE_AMOUNT_DUE: "Lowered the amount due",
    CreditNoteOutcome.REFUND: "Refunded to your payment method",
    CreditNoteOutcome.CUSTOMER_CREDIT: "Added to your credit balance",
}
_INTERNAL_REF = re.compile(r"^\s*Refund #\d+:\s*")


def applied_as(note: CreditNote) -> str:
    return APPLIED_AS.get(note.outcome, note.get_outcome_display())  # type: ignore[call-overload]


def note_reason(note: CreditNote) -> str:
    """The note's reason without the back office's refund number ("Refund #12: ...")."""
    return _INTERNAL_REF.sub("", note.reason or "").strip() or "Refund"


def is_counted(meter: Any) -> bool:
    """A meter that counts things (events, distinct values): its quantities are whole."""
    if meter is None:
        return False
    versions = sorted(meter.versions.all(), key=lambda v: v.effective_from)
    return bool(versions) and versions[-1].aggregation in COUNTED


def forecast_quantity(meter: Any, value: Decimal) -> Decimal:
    step = Decimal(1) if is_counted(meter) else HUNDREDTH
    return value.quantize(step, rounding=ROUND_HALF_UP)
