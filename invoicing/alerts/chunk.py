"""What a batch of customers' alert evaluations read once instead of once per customer.

``alerts_evaluate_pending`` claims customers in batches; for each batch this reads, with a few
queries for all of them: the customers, their contracts in effect (prefetched as the billing run
reads them), the enabled alerts that apply (their own and their plans'), the triggers already
fired this period, and the usage every alert and every spend computation will ask for (one
query per meter and period, as the billing run's warm-up does). Each customer is then evaluated
in its own transaction as before; what was read ahead is only a speed-up: the trigger INSERT
``ON CONFLICT DO NOTHING`` still decides what fires, so a value read a moment earlier can at most
fire a moment later, never twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from accounts.models import Customer
from invoicing.alerts.models import Alert, AlertTrigger, AlertType
from invoicing.alerts.values import CustomerSnapshot
from invoicing.selectors.invoices import contract_period, current_contracts, usage_requests
from invoicing.usage import RememberedUsage, UsageRequest

Fired = dict[int, dict[int, set[int]]]  # alert id -> threshold index -> steps fired


@dataclass
class Chunk:
    at: datetime
    customers: dict[int, Customer]
    snapshots: dict[int, CustomerSnapshot]
    alerts: dict[int, list[Alert]]
    fired: dict[int, Fired] = field(default_factory=dict)

    @classmethod
    def load(cls, customer_ids: Collection[int], at: datetime) -> Chunk:
        customers = Customer.objects.in_bulk(list(customer_ids))
        contracts = current_contracts(customers, at)
        usage = RememberedUsage()
        snapshots = {
            pk: CustomerSnapshot.load(c, at, contract=contracts.get(pk), usage=usage)
            for pk, c in customers.items()
        }
        alerts = _alerts(snapshots)
        chunk = cls(at, customers, snapshots, alerts, _fired(snapshots))
        usage.warm(chunk.usage_requests())
        return chunk

    def usage_requests(self) -> list[UsageRequest]:
        """The reads the chunk's alerts will make: each usage alert's meter in the period, and
        every charge's usage for customers with a spend alert."""
        requests: list[UsageRequest] = []
        for pk, alerts in self.alerts.items():
            snap = self.snapshots[pk]
            for alert in alerts:
                if alert.type == AlertType.USAGE_THRESHOLD and alert.meter is not None:
                    dims = tuple(sorted(alert.group_filter or {}))
                    requests.append(
                        UsageRequest(pk, alert.meter.key, snap.period_start, snap.period_end, dims)
                    )
            spends = any(a.type == AlertType.SPEND_THRESHOLD for a in alerts)
            if spends and snap.contract is not None:
                period = contract_period(snap.contract, snap.at)
                requests += usage_requests(snap.contract, [period])
        return requests


def _alerts(snapshots: dict[int, CustomerSnapshot]) -> dict[int, list[Alert]]:
    """Per customer, its enabled alerts and its plan's, in id order (as ``alerts_for``)."""
    plans: dict[int, list[int]] = {}
    for pk, snap in snapshots.items():
        if snap.contract is not None:
            plans.setdefault(snap.contract.plan_version.plan_id, []).append(pk)
    scope = Q(customer_id__in=list(snapshots)) | Q(plan_id__in=list(plans))
    found: dict[int, list[Alert]] = {pk: [] for pk in snapshots}
    rows = Alert.objects.filter(scope, enabled=True).select_related("meter").order_by("pk")
    for alert in rows:
        owners = [alert.customer_id] if alert.customer_id else plans.get(alert.plan_id or 0, [])
        for pk in owners:
            if pk in found:
                found[pk].append(alert)
    return found


def _fired(snapshots: dict[int, CustomerSnapshot]) -> dict[int, Fired]:
    """Triggers already recorded in each customer's current period, with one query."""
    starts = {snap.period_start for snap in snapshots.values()}
    rows = AlertTrigger.objects.filter(customer_id__in=list(snapshots), period_start__in=starts)
    found: dict[int, Fired] = {pk: {} for pk in snapshots}
    for customer_id, start, alert_id, index, step in rows.values_list(
        "customer_id", "period_start", "alert_id", "threshold_index", "step"
    ):
        if snapshots[customer_id].period_start == start:
            found[customer_id].setdefault(alert_id, {}).setdefault(index, set()).add(step)
    return found
