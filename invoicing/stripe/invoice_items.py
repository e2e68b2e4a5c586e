"""Turn a finalized invoice's lines into Stripe invoice items whose total equals ours exactly.

Tally rounds each line once (``billingsite.money.round_line``) and the invoice total is the sum
of the rounded lines. Stripe computes each item's amount itself: a fixed ``amount`` in minor
units, or ``unit_amount_decimal`` (minor units, up to 12 places) x integer ``quantity`` rounded
to the minor unit. So:

- a per-unit line with an integer quantity whose exact product is not a tie (x.5 minor units,
  where rounding modes differ) and rounds to our amount is sent as
  ``unit_amount_decimal`` x ``quantity`` (the customer sees the unit price on Stripe's invoice);
- every other line (tiers, flat fees, minimums, fractional quantities, discounts and credits)
  is sent as its rounded ``amount``.

Either way each Stripe item equals our rounded line, hence the totals are equal
(``stripe_total(items) == to_minor_units(invoice.total)``, tested with hypothesis).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from billingsite.money import (
    UNIT_PRICE_PLACES,
    amount_of,
    currency_exponent,
    decimal_places,
    exact_context,
    round_line,
    to_minor_units,
)
from invoicing.models import InvoiceLine

DESCRIPTION_MAX = 250


@dataclass(frozen=True)
class StripeItem:
    position: int
    description: str
    period: tuple[datetime, datetime]
    amount: int | None = None
    unit_amount_decimal: Decimal | None = None
    quantity: int | None = None

    @property
    def stripe_amount(self) -> int:
        """What Stripe will compute for this item (half-up rounding; never a tie, see above)."""
        if self.amount is not None:
            return self.amount
        assert self.unit_amount_decimal is not None and self.quantity is not None
        with exact_context():
            product = self.unit_amount_decimal * self.quantity
        return int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _per_unit_minor(line: InvoiceLine, currency: str) -> Decimal | None:
    price = line.price if isinstance(line.price, dict) else {}
    if (
        price.get("model") != "per_unit"
        or price.get("transform")
        or price.get("minimum")
        or price.get("maximum")
    ):
        return None
    try:
        unit = Decimal(str(price.get("unit_amount")))
    except (InvalidOperation, ValueError):
        return None
    with exact_context():
        minor = unit.scaleb(currency_exponent(currency))
    return minor if decimal_places(minor) <= UNIT_PRICE_PLACES and minor >= 0 else None


def stripe_item(line: InvoiceLine, currency: str) -> StripeItem:
    amount = to_minor_units(round_line(amount_of(line.amount, currency), currency), currency)
    base = StripeItem(
        position=line.position,
        description=line.description[:DESCRIPTION_MAX],
        period=(line.period_start, line.period_end),
        amount=amount,
    )
    unit = _per_unit_minor(line, currency)
    quantity = line.quantity
    if unit is None or quantity is None or quantity < 0 or quantity != quantity.to_integral():
        return base
    with exact_context():
        product = unit * int(quantity)
    fraction = product - product.to_integral_value(rounding="ROUND_FLOOR")
    if fraction == Decimal("0.5"):
        return base  # a tie: Stripe's rounding mode might differ from ours
    candidate = StripeItem(
        position=line.position,
        description=base.description,
        period=base.period,
        unit_amount_decimal=unit.normalize(),
        quantity=int(quantity),
    )
    return candidate if candidate.stripe_amount == amount else base


def stripe_items(lines: Iterable[InvoiceLine], currency: str) -> list[StripeItem]:
    return [stripe_item(line, currency) for line in lines]


def stripe_total(items: Iterable[StripeItem]) -> int:
    return sum(item.stripe_amount for item in items)
