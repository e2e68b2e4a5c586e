"""Tally's rating engine: price specs in, exactly computed and once-rounded lines out.

Pure Python (no Django models): the invoicing services, the upcoming-invoice preview and
``POST /api/v1/pricing/preview`` all call the functions exported here, so they agree.

    spec = parse_price_spec({"model": "graduated", "tiers": [...]})
    rating = rate_quantity(spec, Decimal("1200"), "USD")
    rating.amount, rating.amount_unrounded, rating.as_dict()

Money rules (exponents, ROUND_HALF_UP once per line, no floats) live in ``billingsite.money``.
"""

from .definitions import PriceSpec, QuantityTransform
from .engine import (
    apply_transform,
    prorate,
    rate_events,
    rate_flat,
    rate_groups,
    rate_quantity,
    sum_lines,
)
from .errors import PriceSpecError, PricingError
from .ladder import (
    LadderPart,
    PercentageStep,
    finish_ladder,
    ladder_groups_step,
    ladder_limits,
    ladder_quantity_step,
)
from .rating import Rating
from .spec import parse_price_spec

__all__ = [
    "LadderPart",
    "PercentageStep",
    "PriceSpec",
    "PriceSpecError",
    "PricingError",
    "QuantityTransform",
    "Rating",
    "apply_transform",
    "finish_ladder",
    "ladder_groups_step",
    "ladder_limits",
    "ladder_quantity_step",
    "parse_price_spec",
    "prorate",
    "rate_events",
    "rate_flat",
    "rate_groups",
    "rate_quantity",
    "sum_lines",
]
