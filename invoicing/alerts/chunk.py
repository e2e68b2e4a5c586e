"""What a batch of customers' alert evaluations read once instead of once per customer.

``alerts_evaluate_pending`` claims customers in batches; for each batch this reads, with a few
queries for all of them: the customers, their contracts in effect (prefetched as the billing run
reads them), the enabled alerts that apply (their own and their plans'), the triggers already
fired this period, the customers with open triggers of an ended period, the usage every alert
and every spend computation will ask for (one query per meter and period, as the billing run's
warm-up does), the credit ledger sums of the balance and commit burn alerts (one query), and
which spend customers have credit grants or issued invoices at all (the others' spend skips
those reads, as the billing run's does).

``needs_evaluation`` then decides from these reads alone whether a customer can have anything
to fire or resolve; most touched customers have not (their usage moved but crossed nothing),
and cost no transaction and no further query. The others are evaluated each in its own
transaction as before. What was read ahead is only a speed-up: the trigger INSERT ``ON CONFLICT
DO NOTHING`` still decides what fires, so a value read a moment earlier can at most fire a
moment later (the customer is marked again by the usage that came after the read), never twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Q

from accounts.models import Customer
from invoicing.alerts.evaluation import (
    all_fired,
    missing_steps,
    recovered_indexes,
    spend_quiet,
)
from invoicing.alerts.models import Alert, AlertTrigger, AlertType
from invoicing.alerts.spend import current_memo, memo_reads
from invoicing.alerts.values import HUNDRED, ZERO, CustomerSnapshot
from invoicing.models import Charge, CommitKind, Invoice, PlanVersion
from invoicing.selectors.credits import customers_with_grants, live_grant_balances
from invoicing.selectors.invoices import (
    ISSUED,
    contract_period,
    contracts_terms_load,
    current_contracts_bare,
    usage_requests,
)
from invoicing.usage import RememberedUsage, UsageRequest
from metering.models import Meter
from metering.selectors.events import customers_with_late_events

Fired = dict[int, dict[int, set[int]]]  # alert id -> threshold index -> steps fired
LEDGER_TYPES = (AlertType.CREDIT_BALANCE_BELOW, AlertType.COMMIT_BURN)


@dataclass
class Chunk:
    at: datetime
    customers: dict[int, Customer]
    snapshots: dict[int, CustomerSnapshot]
    alerts: dict[int, list[Alert]]
    fired: dict[int, Fired] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)  # customers with open triggers of ended periods

    @classmethod
    def load(cls, customer_ids: Collection[int], at: datetime) -> Chunk:
        customers = Customer.objects.in_bulk(list(customer_ids))
        contracts = current_contracts_bare(customers, at)
        usage = RememberedUsage()
        catalog = _catalog_version()
        snapshots = {
            pk: CustomerSnapshot.load(c, at, contract=contracts.get(pk), usage=usage)
            for pk, c in customers.items()
        }
        for snap in snapshots.values():
            snap.catalog = catalog
        alerts = _alerts(snapshots)
        chunk = cls(at, customers, snapshots, alerts, _fired(snapshots), _ended(customers, at))
        chunk.read_spend_inputs()
        chunk.read_ledger()
        chunk.read_terms()
        usage.warm(chunk.usage_requests())
        return chunk

    def read_terms(self) -> None:
        """The terms of the contracts whose spend will be computed: the spend customers without
        a memo that still applies (the others' terms are read if their spend is computed after
        all, that is when it nears a threshold). Quiet customers read none."""
        wanted = [
            self.snapshots[pk].contract
            for pk in self._spenders()
            if not self.snapshots[pk].spend_memo or current_memo(self.snapshots[pk]) is None
        ]
        if wanted:
            contracts_terms_load([c for c in wanted if c is not None])

    def usage_requests(self) -> list[UsageRequest]:
        """The reads the chunk's alerts will make: each usage alert's meter in the period, and
        every charge's usage for customers with a spend alert."""
        requests: list[UsageRequest] = []
        spenders = self._spenders()
        for pk, alerts in self.alerts.items():
            snap = self.snapshots[pk]
            for alert in alerts:
                if alert.type == AlertType.USAGE_THRESHOLD and alert.meter is not None:
                    dims = tuple(sorted(alert.group_filter or {}))
                    requests.append(
                        UsageRequest(pk, alert.meter.key, snap.period_start, snap.period_end, dims)
                    )
            if pk in spenders:
                assert snap.contract is not None
                remembered = memo_reads(snap) if snap.spend_memo else None
                if remembered is not None:  # the pre-filter reads these; a computation
                    requests += remembered  # that still happens reads the rest itself
                else:
                    period = contract_period(snap.contract, snap.at)
                    requests += usage_requests(snap.contract, [period])
        return requests

    def _spenders(self) -> set[int]:
        """The customers with a contract and a spend alert that can still fire this period."""
        return {
            pk
            for pk, alerts in self.alerts.items()
            if self.snapshots[pk].contract is not None
            and any(
                a.type == AlertType.SPEND_THRESHOLD
                and not all_fired(a, self.fired.get(pk, {}).get(a.pk, {}))
                for a in alerts
            )
        }

    def read_spend_inputs(self) -> None:
        """Which spend customers have credit grants, or issued invoices that late usage may
        adjust (issued invoices and late-flagged events: ``billed_usage`` re-rates nothing
        else unless ``INVOICING_LATE_USAGE_LOOKBACK_PERIODS`` is set); at most three queries.
        The others' computations skip those reads, and may use the spend pre-filter."""
        spenders = self._spenders()
        if not spenders:
            return
        granted = customers_with_grants(spenders)
        contract_ids = {self.snapshots[pk].contract.pk: pk for pk in spenders}  # type: ignore[union-attr]
        issued = Invoice.objects.filter(contract_id__in=list(contract_ids), status__in=ISSUED)
        billed = {contract_ids[c] for c in issued.values_list("contract_id", flat=True).distinct()}
        if billed and not getattr(settings, "INVOICING_LATE_USAGE_LOOKBACK_PERIODS", 0):
            # issued invoices are adjusted only for periods holding late-flagged events
            billed &= customers_with_late_events(sorted(billed))
        for pk in spenders:
            snap = self.snapshots[pk]
            snap.with_credits, snap.with_billed = pk in granted, pk in billed
            snap.spend_memo = not (snap.with_credits or snap.with_billed)

    def read_ledger(self) -> None:
        """Credit balances per currency and commit burn of the customers with such alerts,
        from one query over their live grants (the sums ``values.credit_value`` and
        ``values.commit_burn_value`` read per customer)."""
        wanted = [
            pk for pk, alerts in self.alerts.items() if any(a.type in LEDGER_TYPES for a in alerts)
        ]
        if not wanted:
            return
        balances: dict[int, dict[str, Decimal]] = {pk: {} for pk in wanted}
        commits: dict[int, tuple[Decimal, Decimal]] = {}
        for pk, currency, kind, amount, balance in live_grant_balances(wanted, at=self.at):
            balances[pk][currency] = balances[pk].get(currency, ZERO) + balance
            if kind == CommitKind.PREPAID:
                granted, used = commits.get(pk, (ZERO, ZERO))
                commits[pk] = (granted + amount, used + amount - balance)
        for pk in wanted:
            for alert in self.alerts[pk]:
                if alert.type == AlertType.CREDIT_BALANCE_BELOW:
                    value = balances[pk].get(alert.currency.upper(), ZERO)
                    self.snapshots[pk].know(alert, value)
                elif alert.type == AlertType.COMMIT_BURN:
                    self.snapshots[pk].know(alert, _burn(*commits.get(pk, (ZERO, ZERO))))

    def needs_evaluation(self, pk: int) -> bool:
        """Whether evaluating ``pk`` can fire or resolve anything, from the batch's reads: a
        period ended with triggers open, a threshold step reached and not fired, or a balance
        alert back above a threshold it fired at. False for most touched customers."""
        if pk in self.ended or pk not in self.snapshots:
            return True
        snap, fired = self.snapshots[pk], self.fired.get(pk, {})
        for alert in self.alerts[pk]:
            done = fired.get(alert.pk, {})
            if all_fired(alert, done) or spend_quiet(alert, snap, done):
                continue
            value = snap.value(alert)
            if value is None:
                continue
            if any(steps for _i, _t, steps in missing_steps(alert, value, done)):
                return True
            if alert.type == AlertType.CREDIT_BALANCE_BELOW and any(
                done.get(index) for index in recovered_indexes(alert, value)
            ):
                return True
        return False


def _burn(granted: Decimal, used: Decimal) -> Decimal | None:
    if granted <= 0:
        return None
    return (used * HUNDRED / granted).quantize(Decimal("0.0001"))


def _alerts(snapshots: dict[int, CustomerSnapshot]) -> dict[int, list[Alert]]:
    """Per customer, its enabled alerts and its plan's, in id order (as ``alerts_for``)."""
    plans: dict[int, list[int]] = {}
    for pk, snap in snapshots.items():
        if snap.contract is not None:
            plans.setdefault(snap.contract.plan_version.plan_id, []).append(pk)
    scope = Q(customer_id__in=list(snapshots)) | Q(plan_id__in=list(plans))
    found: dict[int, list[Alert]] = {pk: [] for pk in snapshots}
    rows = list(Alert.objects.filter(scope, enabled=True).order_by("pk"))
    meters = Meter.objects.in_bulk(list({a.meter_id for a in rows if a.meter_id is not None}))
    for alert in rows:
        if alert.meter_id is not None:
            alert.meter = meters[alert.meter_id]  # one instance per meter, not per alert
        owners = [alert.customer_id] if alert.customer_id else plans.get(alert.plan_id or 0, [])
        for pk in owners:
            if pk in found:
                found[pk].append(alert)
    return found


def _catalog_version() -> tuple[int | None, int | None]:
    """The latest change of any charge or plan version (their history ids): part of the
    spend memo's fingerprint, so a price edited in the admin is computed again."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT max(history_id) FROM {Charge.history.model._meta.db_table}),"  # noqa: S608
            f" (SELECT max(history_id) FROM {PlanVersion.history.model._meta.db_table})"
        )
        row = cursor.fetchone()
    return (row[0], row[1])


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


def _ended(customers: Collection[int], at: datetime) -> set[int]:
    """The customers with a trigger still open whose period ended by ``at`` (one query)."""
    rows = AlertTrigger.objects.filter(
        customer_id__in=list(customers), resolved_at__isnull=True, period_end__lte=at
    )
    return set(rows.values_list("customer_id", flat=True).distinct())
