"""Demo plans, contracts and a few months of finalized invoices for `manage.py seed_demo`.

Idempotent: plans, contracts and terms are looked up before they are created, demo events
carry fixed ids (metering dedupes them), and the billing run drafts each period once.
Invoices are computed from real metered usage through the same selector the usage pages use.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import Customer
from invoicing.models import Contract, Plan, PlanVersion
from invoicing.periods import add_months, local_date, local_midnight_utc
from invoicing.services.billing import billing_run, unbilled_periods
from invoicing.services.billing_drafts import grace_hours
from invoicing.services.catalog import plan_create, plan_version_create
from invoicing.services.contracts import AmendmentInput, contract_amend, contract_create
from invoicing.services.credits import credit_grant_create

MONTHS_OF_HISTORY = 4
METERS = [
    {
        "key": "api_calls",
        "name": "API calls",
        "unit": "calls",
        "event_type": "api_request",
        "aggregation": "count",
    },
    {
        "key": "storage_gb",
        "name": "Storage (GB, peak)",
        "unit": "GB",
        "event_type": "storage_report",
        "aggregation": "max",
        "value_property": "gb",
    },
]
API_CALLS = {"key": "api_calls", "name": "API calls", "kind": "usage", "meter_key": "api_calls"}
STORAGE = {"key": "storage", "name": "Storage", "kind": "usage", "meter_key": "storage_gb"}
PLANS: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "starter": (
        "Starter",
        "USD",
        [
            {
                "key": "platform",
                "name": "Platform fee",
                "kind": "fixed",
                "price": {"model": "flat", "amount": "49.00"},
            },
            {**API_CALLS, "price": {"model": "per_unit", "unit_amount": "0.10"}},
        ],
    ),
    "scale": (
        "Scale",
        "USD",
        [
            {
                "key": "platform",
                "name": "Platform fee",
                "kind": "fixed",
                "price": {"model": "flat", "amount": "499.00"},
            },
            {
                **API_CALLS,
                "price": {
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "300", "unit_amount": "0.20"},
                        {"up_to": None, "unit_amount": "0.12"},
                    ],
                },
            },
            {
                **STORAGE,
                "price": {
                    "model": "volume",
                    "tiers": [
                        {"up_to": "100", "unit_amount": "0.50"},
                        {"up_to": None, "unit_amount": "0.35"},
                    ],
                },
            },
        ],
    ),
    "scale-eu": (
        "Scale (EUR)",
        "EUR",
        [
            {
                "key": "platform",
                "name": "Platform fee",
                "kind": "fixed",
                "price": {"model": "flat", "amount": "459.00"},
            },
            {
                **API_CALLS,
                "price": {
                    "model": "package",
                    "package_size": "100",
                    "package_amount": "15.00",
                    "free_units": "100",
                },
            },
        ],
    ),
}
CONTRACTS = [("acme", "starter"), ("globex", "scale"), ("umbrella", "scale-eu"), ("stark", "scale")]


def seed(out: Any) -> None:
    now = timezone.now()
    _ensure_meters()
    versions = {key: _plan_version(key) for key in PLANS}
    created: list[Contract] = []
    for external_id, plan_key in CONTRACTS:
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None or customer.contracts.exists():
            continue
        start = _history_start(now, customer.timezone)
        _customer_since(customer, start)
        contract = contract_create(
            customer=customer,
            plan_version=versions[plan_key],
            start_date=start,
            billing_anchor_day=1,
            net_days=45 if external_id == "stark" else 30,
        )
        if external_id == "stark":
            _enterprise_terms(contract, start, now)
        created.append(contract)
    for external_id, _plan in CONTRACTS:
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is not None:
            _send_usage(customer, _history_start(now, customer.timezone), now)
    finalized = _bill_history(created, now)
    result = billing_run(now=now)
    out.write(
        f"  {len(PLANS)} plans, {len(created)} new contracts, "
        f"{finalized + result.finalized} invoices finalized, {result.drafted} drafted"
    )
    from invoicing.demo_stripe import seed_stripe_mirror

    seed_stripe_mirror(out)


def _customer_since(customer: Customer, first_day: date) -> None:
    """A customer signs up before their first contract starts (10 days, in their zone)."""
    since = local_midnight_utc(first_day - timedelta(days=10), customer.timezone)
    if customer.created_at > since:
        customer.created_at = since
        customer.save(update_fields=["created_at"])


def _bill_history(contracts: list[Contract], now: datetime) -> int:
    """Bill the history as the nightly run would have: each period drafted when it ends and
    finalized when its grace ends, so invoices carry the issue and due dates they would have
    had (not all "today"). Only for contracts this seed created: their history is unbilled."""
    moments: set[datetime] = set()
    for contract in contracts:
        grace = timedelta(hours=grace_hours(contract))
        for period in unbilled_periods(contract, now, last_end=None):
            moments.update({period.end, period.end + grace})
    ids = [c.pk for c in contracts]
    return sum(
        billing_run(now=moment, contract_ids=ids).finalized
        for moment in sorted(moments)
        if moment <= now
    )


def _ensure_meters() -> None:
    from metering.models import Meter
    from metering.services import meter_create

    for meter in METERS:
        if not Meter.objects.filter(key=meter["key"]).exists():
            meter_create(**meter)
        Meter.objects.filter(key=meter["key"], unit="").update(unit=meter["unit"])


def _plan_version(key: str) -> PlanVersion:
    name, currency, charges = PLANS[key]
    plan = Plan.objects.filter(key=key).first() or plan_create(
        key=key, name=name, currency=currency
    )
    return plan.versions.order_by("version").first() or plan_version_create(
        plan=plan, charges=charges
    )


def _history_start(now: datetime, tz: str) -> date:
    today = local_date(now, tz)
    year, month = add_months(today.year, today.month, -MONTHS_OF_HISTORY)
    return date(year, month, 1)


def _enterprise_terms(contract: Contract, start: date, now: datetime) -> None:
    """Stark: prepaid commit, negotiated rates (renegotiated two months ago), credits."""
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=start,
            note="Enterprise agreement",
            overrides=(
                {
                    "charge_key": "api_calls",
                    "kind": "multiplier",
                    "multiplier": Decimal("0.8"),
                    "note": "20% volume rate",
                },
            ),
            commits=(
                {
                    "kind": "prepaid",
                    "amount": Decimal("3000.00"),
                    "effective_to": date(start.year + 1, start.month, 1),
                    "note": "Annual prepaid commit",
                },
            ),
            discounts=(
                {
                    "name": "Enterprise discount",
                    "kind": "percentage",
                    "value": Decimal(5),
                    "duration": "recurring",
                },
            ),
        ),
    )
    year, month = add_months(start.year, start.month, MONTHS_OF_HISTORY - 2)
    contract_amend(
        contract=contract,
        change=AmendmentInput(
            effective_date=date(year, month, 15),
            note="Storage tiers renegotiated mid-month",
            overrides=(
                {
                    "charge_key": "storage",
                    "kind": "tiers",
                    "tiers": [
                        {"up_to": "50", "unit_amount": "0.40"},
                        {"up_to": None, "unit_amount": "0.25"},
                    ],
                },
            ),
        ),
    )
    tz = contract.timezone
    credit_grant_create(
        customer=contract.customer,
        contract=contract,
        kind="promotional",
        amount=Decimal("150.00"),
        currency="USD",
        effective_at=local_midnight_utc(start, tz),
        expires_at=now + timedelta(days=90),
        priority=10,
        note="Migration credit",
    )


def _send_usage(customer: Customer, start: date, now: datetime) -> None:
    """Deterministic daily demo events (fixed ids: re-sending them changes nothing)."""
    from metering.ingest.limits import ingest_limits
    from metering.services import events_ingest, rollup_drain

    rng = random.Random(customer.external_id)  # demo data, not security
    events: list[dict[str, Any]] = []
    day = start
    while (instant := local_midnight_utc(day, customer.timezone)) < now - timedelta(hours=1):
        for i in range(rng.randint(4, 16)):
            events.append(
                {
                    "id": f"demo-{customer.external_id}-{day}-{i}",
                    "customer": customer.external_id,
                    "type": "api_request",
                    "timestamp": (instant + timedelta(minutes=37 * i + 5)).isoformat(),
                    "properties": {"endpoint": rng.choice(["/v1/search", "/v1/embed"])},
                }
            )
        events.append(
            {
                "id": f"demo-{customer.external_id}-{day}-storage",
                "customer": customer.external_id,
                "type": "storage_report",
                "timestamp": (instant + timedelta(hours=12)).isoformat(),
                "properties": {"gb": str(40 + rng.randint(0, 120))},
            }
        )
        day += timedelta(days=1)
    limits = replace(ingest_limits(), max_age=timedelta(days=31 * (MONTHS_OF_HISTORY + 1)))
    for index in range(0, len(events), 2000):
        events_ingest(
            api_key=None, events=events[index : index + 2000], limits=limits, received_at=now
        )
    rollup_drain()
