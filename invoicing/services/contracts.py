"""Contract writes: create a contract and amend it with effective-dated terms.

An amendment never changes an issued invoice: it may only take effect on or after the end of
the last issued period. Every amendment is a ``ContractAmendment`` row (who, when, what) and
every row it adds or ends keeps its own history.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from billingsite.errors import AppError
from billingsite.money import positive_amount
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
from invoicing.services.credits import credit_grant_create
from invoicing.states import InvoiceStatus

ISSUED = (
    InvoiceStatus.FINALIZED,
    InvoiceStatus.PAST_DUE,
    InvoiceStatus.PAID,
    InvoiceStatus.UNCOLLECTIBLE,
)


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
    # Credit grants given with the amendment (credit_grant_create's fields; effective from
    # the amendment's first day unless ``effective_at`` says otherwise).
    credit_grants: tuple[dict[str, Any], ...] = ()
    # Payment terms that are not effective-dated: ``net_days``, ``collection_method``.
    terms: dict[str, Any] = dataclasses.field(default_factory=dict)
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


def version_in_force(contract: Contract, day: date) -> PlanVersion:
    """The plan version the contract bills on ``day``: the last amendment's switch, if any."""
    switch = (
        contract.amendments.filter(plan_version__isnull=False, effective_date__lte=day)
        .order_by("-effective_date", "-created_at")
        .select_related("plan_version__plan")
        .first()
    )
    return switch.plan_version if switch and switch.plan_version else contract.plan_version


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
    _check_charges(locked, change)
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
    record["credit_grants"] = [
        _grant_add(locked, change.effective_date, data, actor).pk for data in change.credit_grants
    ]
    if change.terms:
        record["terms"] = _terms_set(locked, change.terms)
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


def _overrides_end(contract: Contract, charge_key: str, day: date) -> list[int]:
    """End the overrides of a charge in force on ``day`` (a new one replaces, not compounds)."""
    ended = []
    for override in contract.overrides.filter(charge_key=charge_key).order_by("pk"):
        if override.effective_to is not None and override.effective_to <= day:
            continue
        if override.effective_from >= day:
            raise AppError(
                "override_overlaps",
                f"An override of {charge_key!r} starts on {override.effective_from}: it cannot "
                "be replaced from an earlier day.",
                details={"override": override.pk},
            )
        override.effective_to = day
        override.save(update_fields=["effective_to"])
        ended.append(override.pk)
    return ended


def _override_add(contract: Contract, effective_date: date, data: dict[str, Any]) -> RateOverride:
    data = {"effective_from": effective_date, **data}
    if data.pop("replace", False):
        _overrides_end(contract, str(data.get("charge_key")), data["effective_from"])
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


TERMS = ("net_days", "collection_method")


def _terms_set(contract: Contract, terms: dict[str, Any]) -> dict[str, Any]:
    """Change the payment terms from now on; the record keeps the values before and after."""
    unknown = sorted(set(terms) - set(TERMS))
    if unknown:
        raise AppError(
            "invalid_terms", f"Terms may change {', '.join(TERMS)}.", details={"terms": unknown}
        )
    record = {name: {"from": getattr(contract, name), "to": value} for name, value in terms.items()}
    for name, value in terms.items():
        setattr(contract, name, value)
    full_clean(contract, validate_unique=False)
    contract.save()
    return record


def _grant_add(
    contract: Contract, effective_date: date, data: dict[str, Any], actor: User | None
) -> Any:
    from invoicing.services.credits import credit_grant_create

    data = {
        "effective_at": local_midnight_utc(effective_date, contract.timezone),
        "currency": contract.currency,
        "note": f"Amendment of contract #{contract.pk}",
        **data,
    }
    return credit_grant_create(customer=contract.customer, contract=contract, actor=actor, **data)


def _check_charges(contract: Contract, change: AmendmentInput) -> None:
    """An override names a charge of the plan version in force from its first day."""
    version = change.plan_version or version_in_force(contract, change.effective_date)
    keys = set(version.charges.values_list("key", flat=True))
    unknown = sorted({o.get("charge_key") for o in change.overrides} - keys, key=str)
    if unknown:
        raise AppError(
            "unknown_charge",
            f"No such charge on {version}: pick one of {', '.join(sorted(keys)) or 'none'}.",
            details={"charge": [str(key) for key in unknown]},
        )


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
    amount = positive_amount(amount, contract.currency, "amount")
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
