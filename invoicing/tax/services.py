"""Audited writes of the tax table: rates and their assignments to tax ids.

A rate is never edited in place once invoices may have used it: a new rate takes over from a
date by ending the old one (``tax_rate_end``), so the history says which rate applied when.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from billingsite.errors import AppError, Conflict
from billingsite.validation import full_clean
from invoicing.models import TaxRate, TaxRateAssignment


def _audited(obj: TaxRate | TaxRateAssignment, actor: User | None) -> None:
    if actor is not None:
        obj._history_user = actor  # type: ignore[union-attr]


@transaction.atomic
def tax_rate_create(
    *,
    name: str,
    jurisdiction: str,
    rate: Decimal,
    inclusive: bool = False,
    effective_from: date,
    effective_to: date | None = None,
    actor: User | None = None,
) -> TaxRate:
    row = TaxRate(
        name=name.strip(),
        jurisdiction=jurisdiction.strip().upper(),
        rate=rate,
        inclusive=inclusive,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    if effective_to is not None and effective_to <= effective_from:
        raise AppError(
            "validation_error",
            "effective_to must be after effective_from.",
            details={"effective_to": "Must be after effective_from."},
        )
    full_clean(row)
    _audited(row, actor)
    row.save()
    return row


@transaction.atomic
def tax_rate_end(*, rate: TaxRate, on: date, actor: User | None = None) -> TaxRate:
    """The rate stops applying from ``on`` (exclusive end), under its row lock."""
    locked = TaxRate.objects.select_for_update().get(pk=rate.pk)
    if on <= locked.effective_from:
        raise Conflict("invalid_end", "A rate cannot end before it starts.")
    locked.effective_to = on
    _audited(locked, actor)
    locked.save(update_fields=["effective_to"])
    return locked


@transaction.atomic
def tax_rate_assign(*, rate: TaxRate, tax_id: str, actor: User | None = None) -> TaxRateAssignment:
    row = TaxRateAssignment(rate=rate, tax_id=tax_id.strip())
    _audited(row, actor)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise Conflict("already_assigned", f"{tax_id} already has this rate.") from exc
    return row
