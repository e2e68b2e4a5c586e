"""Contract writes: create a contract and amend it with effective-dated terms.

An amendment never changes an issued invoice: it may only take effect on or after the end of
the last issued period. Every amendment is a ``ContractAmendment`` row (who, when, what) and
every row it adds or ends keeps its own history.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError
from billingsite.money import currency_exponent, decimal_places
from billingsite.validation import full_clean
from invoicing.models import (
    Commit,
    CommitKind,
    Contract,
    ContractAmendment,
    Discount,
    OverrideKind,
    PlanVersion,
    RateOverride,
)
from invoicing.periods import local_date, local_midnight_utc
from invoicing.selectors.terms import ContractTerms, applied_spec
from invoicing.states import InvoiceStatus

ISSUED = (
    InvoiceStatus.FINALIZED,
    InvoiceStatus.PAST_DUE,
    InvoiceStatus.PAID,
    InvoiceStatus.UNCOLLECTIBLE,
)


def check_amount(value: Any, currency: str, field: str) -> Decimal:
    """A positive amount with no more places than the currency's minor unit."""
    amount = Decimal(str(value))
    if amount <= 0 or decimal_places(amount) > currency_exponent(currency):
        places = currency_exponent(currency)
        raise AppError(
            "invalid_amount",
            f"{field} must be positive with at most {places} decimal places for {currency}.",
            details={field: str(value)},
        )
    return amount


@transaction.atomic
def contract_create(
    *,
    customer: Customer,
    plan_version: PlanVersion,
    start_date: date,
    end_date: date | None = None,
    billing_anchor_day: int | None = None,
    timezone_name: str | None = None,
    net_days: int = 30,
    collection_method: str = "send_invoice",
    invoice_series: str = "INV",
) -> Contract:
    """Put a customer on a plan version. The plan's currency must be the customer's."""
    if plan_version.plan.currency != customer.currency:
        raise AppError(
            "currency_mismatch",
            f"The plan bills in {plan_version.plan.currency} but the customer is "
            f"billed in {customer.currency}.",
            details={"plan_version": "Pick a plan in the customer's currency."},
        )
    contract = Contract(
        customer=customer,
        plan_version=plan_version,
        start_date=start_date,
        end_date=end_date,
        billing_anchor_day=billing_anchor_day or start_date.day,
        timezone=timezone_name or customer.timezone,
        net_days=net_days,
        collection_method=collection_method,
        invoice_series=invoice_series,
    )
    full_clean(contract, validate_unique=False)
    contract.save()
    return contract


@dataclasses.dataclass(frozen=True)
class AmendmentInput:
    """What one amendment does; every list item is a dict of the model's fields."""

    effective_date: date
    plan_version: PlanVersion | None = None
    end_date: date | None = None
    overrides: tuple[dict[str, Any], ...] = ()
    commits: tuple[dict[str, Any], ...] = ()
    discounts: tuple[dict[str, Any], ...] = ()
    note: str = ""


def first_amendable_date(contract: Contract) -> date:
    """Terms may change from the end of the last issued period on (never inside one)."""
    last = (
        contract.invoices.filter(status__in=ISSUED)
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )
    return contract.start_date if last is None else local_date(last, contract.timezone)


def touch_contract(contract: Contract) -> None:
    """Bump ``updated_at``: finalization reloads terms prefetched before this change."""
    Contract.objects.filter(pk=contract.pk).update(updated_at=timezone.now())


@transaction.atomic
def contract_amend(
    *, contract: Contract, change: AmendmentInput, actor: User | None = None
) -> ContractAmendment:
    """Apply an amendment from ``change.effective_date``; audited as one ContractAmendment."""
    locked = Contract.objects.select_for_update().get(pk=contract.pk)
    earliest = first_amendable_date(locked)
    if change.effective_date < earliest:
        raise AppError(
            "amendment_too_early",
            f"An amendment can take effect from {earliest} at the earliest: the "
            "periods before it are invoiced already.",
            details={"effective_date": str(change.effective_date)},
        )
    record: dict[str, Any] = {}
    if change.plan_version is not None:
        if change.plan_version.plan.currency != locked.currency:
            raise AppError("currency_mismatch", "The new plan version bills in another currency.")
        if change.plan_version.cadence != locked.plan_version.cadence:
            raise AppError(
                "cadence_mismatch",
                "Billing periods keep the contract's cadence: "
                f"pick a {locked.plan_version.cadence} plan version.",
            )
        record["plan_version"] = change.plan_version.pk
    if change.end_date is not None:
        locked.end_date = change.end_date
        full_clean(locked, validate_unique=False)
        locked.save()
        record["end_date"] = change.end_date.isoformat()
    record["overrides"] = [
        _override_add(locked, change.effective_date, data).pk for data in change.overrides
    ]
    record["commits"] = [
        commit_create(contract=locked, effective_from=change.effective_date, **data).pk
        for data in change.commits
    ]
    record["discounts"] = [
        _discount_add(locked, change.effective_date, data).pk for data in change.discounts
    ]
    touch_contract(locked)
    amendment = ContractAmendment.objects.create(
        contract=locked,
        effective_date=change.effective_date,
        plan_version=change.plan_version,
        note=change.note,
        changes=record,
        created_by=actor,
    )
    _validate_prices(locked)
    return amendment


def _override_add(contract: Contract, effective_date: date, data: dict[str, Any]) -> RateOverride:
    data = {"effective_from": effective_date, **data}
    override = RateOverride(contract=contract, **data)
    if override.kind == OverrideKind.MULTIPLIER and override.multiplier is None:
        raise AppError("invalid_override", "A multiplier override needs a multiplier.")
    if override.kind == OverrideKind.OVERWRITE and not override.price:
        raise AppError("invalid_override", "An overwrite override needs a price spec.")
    if override.kind == OverrideKind.TIERS and not override.tiers:
        raise AppError("invalid_override", "A tiers override needs tiers.")
    full_clean(override, exclude=["contract"], validate_unique=False)
    override.save()
    return override


def _discount_add(contract: Contract, effective_date: date, data: dict[str, Any]) -> Discount:
    discount = Discount(contract=contract, **{"effective_from": effective_date, **data})
    full_clean(discount, exclude=["contract"], validate_unique=False)
    discount.save()
    return discount


def _validate_prices(contract: Contract) -> None:
    """Every charge, with every override that applies to it, must still be a valid spec."""
    contract = Contract.objects.prefetch_related("overrides", "amendments").get(pk=contract.pk)
    terms = ContractTerms.load(contract)
    for _day, version in terms.versions:
        for key, charge in terms.charges_by_version[version.pk].items():
            overrides = [o for o in terms.overrides if o.charge_key == key]
            for index in range(len(overrides)):
                applied_spec(charge, overrides[: index + 1])


@transaction.atomic
def commit_create(
    *,
    contract: Contract,
    kind: str,
    amount: Any,
    effective_from: date,
    effective_to: date | None = None,
    note: str = "",
    actor: User | None = None,
) -> Commit:
    """A commit; a prepaid one also grants its amount as paid credit from its start."""
    from invoicing.services.credits import credit_grant_create

    amount = check_amount(amount, contract.currency, "amount")
    touch_contract(contract)
    commit = Commit(
        contract=contract,
        kind=kind,
        amount=amount,
        effective_from=effective_from,
        effective_to=effective_to,
        note=note,
    )
    full_clean(commit, exclude=["contract"], validate_unique=False)
    commit.save()
    if kind == CommitKind.PREPAID:
        tz = contract.timezone
        credit_grant_create(
            customer=contract.customer,
            kind="paid",
            amount=amount,
            currency=contract.currency,
            effective_at=local_midnight_utc(effective_from, tz),
            expires_at=local_midnight_utc(effective_to, tz) if effective_to else None,
            contract=contract,
            commit=commit,
            note=f"Prepaid commit #{commit.pk}",
            actor=actor,
        )
    return commit
