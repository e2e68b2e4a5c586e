"""Tax lines of an invoice: per line, rounded once, one line per rate.

For each rate, every taxable line's tax is computed exactly and rounded once by
``billingsite.money.round_line`` (half up, to the currency's minor unit: JPY 0 places, USD 2,
KWD 3); the rate's tax line is the sum of those rounded amounts, so the invoice total (the sum
of its lines) equals the sum of each line plus its taxes, and Stripe, which receives each tax
line as an item, shows the same total to the minor unit.

- Exclusive rate: tax = amount x rate / 100, added to the invoice as the rate's line.
- Inclusive rate: the amounts already hold the tax; tax = amount x rate / (100 + rate) is shown
  on the rate's line (``details.included``) whose own amount is zero, so the total is unchanged.
- Reverse charge: no rate; one zero line carrying the mention.

Taxable lines are the charges, adjustments, true-ups and discounts (a discount lowers the tax);
the prepayment of a commit and credits applied are not (credits are a means of payment and are
drawn after tax, so they can pay it).
"""

from __future__ import annotations

from decimal import Decimal

from billingsite.money import exact_context, format_decimal, round_line, sum_lines
from invoicing.models import LineKind
from invoicing.periods import Period
from invoicing.selectors.computation import LineDraft
from invoicing.tax.provider import AppliedRate, TaxQuote

ZERO = Decimal(0)
HUNDRED = Decimal(100)
TAXABLE_KINDS = frozenset(
    {LineKind.FIXED, LineKind.USAGE, LineKind.ADJUSTMENT, LineKind.TRUE_UP, LineKind.DISCOUNT}
)


def line_tax(amount: Decimal, rate: Decimal, currency: str, *, inclusive: bool = False) -> Decimal:
    """The tax of one line amount at ``rate`` percent, rounded once (half up, minor unit)."""
    with exact_context():
        raw = amount * rate / (HUNDRED + rate) if inclusive else amount * rate / HUNDRED
    return round_line(raw, currency)


def rate_label(rate: AppliedRate) -> str:
    percent = format_decimal(rate.rate.normalize())
    return f"{rate.name} {percent}% ({rate.jurisdiction})" + (" included" if rate.inclusive else "")


def tax_lines(
    lines: list[LineDraft], *, quote: TaxQuote, currency: str, period: Period
) -> list[LineDraft]:
    """The tax lines for ``lines`` under ``quote`` (see the module docstring)."""
    if quote.reverse_charge:
        return [
            LineDraft(
                LineKind.TAX,
                quote.note[:300],
                period.start,
                period.end,
                ZERO,
                details={"reverse_charge": True, **quote.details},
            )
        ]
    taxable = [(pos, line.amount) for pos, line in enumerate(lines) if line.kind in TAXABLE_KINDS]
    if not taxable:
        return []
    return [_rate_line(rate, taxable, currency, period) for rate in quote.rates]


def _rate_line(
    rate: AppliedRate, taxable: list[tuple[int, Decimal]], currency: str, period: Period
) -> LineDraft:
    per_line = [
        (pos, base, line_tax(base, rate.rate, currency, inclusive=rate.inclusive))
        for pos, base in taxable
    ]
    tax = sum_lines((t for _, _, t in per_line), currency)
    base = sum_lines((b for _, b, _ in per_line), currency)
    details = {
        "tax_rate": rate.key,
        "jurisdiction": rate.jurisdiction,
        "rate": format_decimal(rate.rate),
        "inclusive": rate.inclusive,
        "taxable": format_decimal(base),
        "per_line": [
            {"position": pos, "base": format_decimal(b), "tax": format_decimal(t)}
            for pos, b, t in per_line
        ],
    }
    if rate.inclusive:
        details["included"] = format_decimal(tax)
    return LineDraft(
        LineKind.TAX,
        rate_label(rate),
        period.start,
        period.end,
        ZERO if rate.inclusive else tax,
        details=details,
    )
