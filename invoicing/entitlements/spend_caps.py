"""Spend caps: a contract's limit on what one billing period may cost.

The gate compares the upcoming invoice so far (the same computation as the invoice and the
usage pages, from rolled-up usage) with the cap in effect; once it is reached, consume and
reserve refuse with ``spend_cap`` and ``spend_cap.reached`` is announced once per contract and
period. Usage reaches the computation through the rollups (seconds behind), and the call that
crosses the cap is priced only after it is recorded, so the cap binds from the first request
after the invoice reaches it: it bounds spend to the cap plus what is in flight, not exactly.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction

from billingsite.errors import AppError
from billingsite.events import emit
from invoicing.entitlements.models import SpendCap
from invoicing.entitlements.selectors import memoised
from invoicing.models import Contract, ContractAmendment
from invoicing.periods import local_date
from invoicing.selectors.invoices import compute_for_period, contract_period
from invoicing.services.contracts import touch_contract
from invoicing.usage import default_usage


def cap_in_effect(contract: Contract, day: date) -> SpendCap | None:
    """Memoised like the feature grants: ``spend_cap_set`` bumps the contract's updated_at."""

    def load() -> SpendCap | None:
        return (
            SpendCap.objects.filter(contract=contract, effective_from__lte=day)
            .exclude(effective_to__lte=day)
            .order_by("-effective_from", "-pk")
            .first()
        )

    return memoised(("spend_cap", contract.pk, contract.updated_at, day), load)  # type: ignore[no-any-return]


def spend_cap_reached(contract: Contract, at: datetime, *, announce: bool) -> bool:
    """Has the upcoming invoice of ``contract`` reached its cap? ``announce`` emits
    ``spend_cap.reached`` (once per contract and period: the key names both)."""
    cap = cap_in_effect(contract, local_date(at, contract.timezone))
    if cap is None:
        return False
    period = contract_period(contract, at)
    total = compute_for_period(contract, period, usage=default_usage()).total
    if total < cap.amount:
        return False
    if announce:
        with transaction.atomic():
            emit(
                "spend_cap.reached",
                {
                    "customer": contract.customer.external_id,
                    "contract": contract.pk,
                    "cap": cap.amount,
                    "currency": contract.currency,
                    "invoice_so_far": total,
                    "period_start": period.start,
                    "period_end": period.end,
                },
                key=f"spend_cap.reached:{contract.pk}:{period.start.isoformat()}",
            )
    return True


@transaction.atomic
def spend_cap_set(
    *,
    contract: Contract,
    amount: Decimal,
    effective_date: date,
    actor: User | None = None,
    note: str = "",
) -> SpendCap:
    """Set the contract's spend cap from ``effective_date`` (an amendment); ends the previous."""
    if amount <= 0:
        raise AppError("invalid_spend_cap", "A spend cap must be more than zero.")
    Contract.objects.select_for_update().filter(pk=contract.pk).first()
    for earlier in SpendCap.objects.filter(
        contract=contract, effective_to__isnull=True, effective_from__lt=effective_date
    ):
        earlier.effective_to = effective_date
        earlier._history_user = actor  # type: ignore[attr-defined]
        earlier.save(update_fields=["effective_to"])
    amendment = ContractAmendment(
        contract=contract,
        effective_date=effective_date,
        note=note or "Spend cap",
        changes={"spend_cap": {"amount": str(amount), "effective_from": str(effective_date)}},
        created_by=actor,
    )
    amendment._history_user = actor  # type: ignore[attr-defined]
    amendment.save()
    cap = SpendCap(
        contract=contract,
        amount=amount,
        effective_from=effective_date,
        amendment=amendment,
        note=note,
    )
    cap._history_user = actor  # type: ignore[attr-defined]
    cap.save()
    touch_contract(contract)
    return cap
