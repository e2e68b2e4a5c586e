"""Validation of price specs and charge definitions, in the words the API and the admin show.

Pure (no database): the model's ``clean()``, the catalog services and the API all ask here, so a
charge is judged the same way wherever it is written.
"""

from __future__ import annotations

from typing import Any

from invoicing.pricing.errors import PriceSpecError
from invoicing.pricing.spec import parse_price_spec
from invoicing.states import ChargeKind


def charge_validation_errors(*, kind: str, meter_key: str, price: Any) -> dict[str, str]:
    """Problems with a charge definition, by field (empty when it is valid)."""
    errors: dict[str, str] = {}
    try:
        spec = parse_price_spec(price)
    except PriceSpecError as exc:
        return {"price": "; ".join(f"{path}: {problem}" for path, problem in exc.details.items())}
    if kind == ChargeKind.FIXED:
        if spec.model != "flat":
            errors["price"] = f"A fixed fee needs a flat price, not {spec.model!r}."
        if meter_key:
            errors["meter_key"] = "A fixed fee is not bound to a meter."
    elif kind == ChargeKind.USAGE:
        if not meter_key:
            errors["meter_key"] = "A usage charge needs the key of the meter it bills."
        if spec.model == "flat":
            errors["price"] = "A flat price is a fixed fee; use kind 'fixed'."
    else:
        errors["kind"] = "Use 'fixed' or 'usage'."
    return errors
