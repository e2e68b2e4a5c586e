"""What a contract bills on a given day: the plan version, each charge with the overrides in
force, commits and discounts. Shown beside an amendment (admin form, API) so whoever changes a
term sees what it changes."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from billingsite.money import format_decimal
from invoicing.models import Commit, Contract, Discount, OverrideKind, PlanVersion, RateOverride
from invoicing.selectors.terms import ContractTerms


@dataclasses.dataclass(frozen=True)
class ChargeInForce:
    key: str
    name: str
    kind: str
    price: dict[str, Any]
    overrides: tuple[RateOverride, ...]

    @property
    def multiplier(self) -> Decimal | None:
        """The product of the multipliers in force (what a new multiplier would compound)."""
        factors = [o.multiplier for o in self.overrides if o.kind == OverrideKind.MULTIPLIER]
        if not factors:
            return None
        product = Decimal(1)
        for factor in factors:
            product *= Decimal(factor or 1)
        return product


@dataclasses.dataclass(frozen=True)
class TermsInForce:
    day: date
    version: PlanVersion
    charges: tuple[ChargeInForce, ...]
    commits: tuple[Commit, ...]
    discounts: tuple[Discount, ...]

    def charge(self, key: str) -> ChargeInForce | None:
        return next((c for c in self.charges if c.key == key), None)


def _in_effect(row: Any, day: date) -> bool:
    return bool(row.effective_from <= day and (row.effective_to is None or day < row.effective_to))


def terms_in_force(contract: Contract, day: date) -> TermsInForce:
    terms = ContractTerms.load(contract)
    version = terms.version_on(day)
    charges = sorted(
        terms.charges_by_version[version.pk].values(), key=lambda c: (c.position, c.key)
    )
    return TermsInForce(
        day=day,
        version=version,
        charges=tuple(
            ChargeInForce(
                key=charge.key,
                name=charge.name,
                kind=charge.kind,
                price=dict(charge.price),
                overrides=tuple(
                    o for o in terms.overrides if o.charge_key == charge.key and _in_effect(o, day)
                ),
            )
            for charge in charges
        ),
        commits=tuple(c for c in contract.commits.all() if _in_effect(c, day)),
        discounts=tuple(d for d in contract.discounts.all() if _in_effect(d, day)),
    )


def terms_data(terms: TermsInForce) -> dict[str, Any]:
    """The JSON shape of ``terms_in_force`` (API) and the admin's summary."""
    return {
        "day": terms.day,
        "plan": terms.version.plan.key,
        "plan_version": terms.version.version,
        "charges": [
            {
                "charge": c.key,
                "name": c.name,
                "price": c.price,
                "overrides": [o.describe() for o in c.overrides],
                "multiplier_in_force": None
                if c.multiplier is None
                else format_decimal(c.multiplier.normalize()),
            }
            for c in terms.charges
        ],
        "commits": [
            {
                "id": c.pk,
                "kind": c.kind,
                "amount": str(c.amount),
                "effective_from": c.effective_from,
            }
            for c in terms.commits
        ],
        "discounts": [
            {"id": d.pk, "name": d.name, "kind": d.kind, "value": str(d.value)}
            for d in terms.discounts
        ],
    }
