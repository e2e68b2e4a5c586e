"""Evaluate one customer's alerts now: fire crossed thresholds, resolve what recovered.

Invariant: a threshold (step) fires at most once per (alert, customer, billing period), and
does fire once the measured value crosses it. The database decides: each trigger is an INSERT
``ON CONFLICT DO NOTHING`` on the unique (alert, customer, period_start, threshold_index, step);
only the caller whose INSERT returned a row announces ``alert.triggered`` (key
``alert.triggered:<trigger id>``), in the same transaction. Retries, concurrent evaluators and
late events re-evaluate the same period and insert nothing new. Resolutions are conditional
UPDATEs (``resolved_at IS NULL``), so each is announced once too.

An evaluation is read (``evaluation_read``: what crossed; nothing written) then written
(``evaluations_write``). A batch of customers is written together: one INSERT for all their
triggers and one batched write per kind of announcement, so firing costs a share of a few
statements per trigger instead of a few statements each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer
from billingsite.events import Event, emit_many
from billingsite.outbox.bulk import outbox_enqueue_many
from invoicing.alerts.models import Alert, AlertOwner, AlertTrigger, AlertType
from invoicing.alerts.spend import next_threshold, spend_ceiling
from invoicing.alerts.values import CustomerSnapshot

# A recurring threshold far below the value (a threshold of 1 on a meter at 10^9) would fire a
# trigger per multiple; only the latest MAX_STEPS multiples not yet fired are recorded.
MAX_STEPS = 1000
EMAIL_TOPIC = "alert.email"


@dataclass(frozen=True)
class Evaluation:
    alerts: int
    fired: list[int]  # trigger ids
    resolved: list[int]


def crossed_steps(alert_type: str, value: Decimal, threshold: Decimal, recurring: bool) -> range:
    """The steps ``value`` has reached: ``range(1, 2)`` or empty for a plain threshold, one step
    per multiple of ``threshold`` when recurring; ``credit_balance_below`` fires below it."""
    if alert_type == AlertType.CREDIT_BALANCE_BELOW:
        return range(1, 2) if value < threshold else range(0)
    if not recurring or threshold <= 0:
        return range(1, 2) if value >= threshold else range(0)
    top = math.floor(value / threshold)
    return range(max(1, top - MAX_STEPS + 1), top + 1)


def alerts_for(customer: Customer, snap: CustomerSnapshot) -> list[Alert]:
    scope = Q(customer=customer)
    if snap.contract is not None:
        scope |= Q(plan_id=snap.contract.plan_version.plan_id)
    return list(Alert.objects.filter(scope, enabled=True).select_related("meter").order_by("pk"))


def alerts_evaluate_customer(
    customer_id: int, *, now: datetime | None = None, chunk: Any = None
) -> Evaluation:
    """Fire and resolve ``customer_id``'s alerts as of ``now``, in one transaction.

    ``chunk`` (an ``invoicing.alerts.chunk.Chunk``; not imported: it imports this module)
    holds what a batch of evaluations read ahead; the customer is evaluated as of the chunk's
    instant then."""
    with transaction.atomic():
        return evaluations_write([evaluation_read(customer_id, now=now, chunk=chunk)])


@dataclass(frozen=True)
class Crossing:
    """Steps of one threshold that ``value`` reached and that had not fired when read."""

    alert: Alert
    snap: CustomerSnapshot
    index: int
    threshold: Decimal
    value: Decimal
    steps: list[int]


@dataclass
class Pending:
    """One customer's evaluation, read and decided, not yet written (``evaluations_write``)."""

    customer_id: int
    now: datetime
    alerts: int
    ended: bool  # resolve the triggers of periods that ended by ``now``
    crossings: list[Crossing] = field(default_factory=list)
    recovered: list[tuple[Alert, CustomerSnapshot, Decimal]] = field(default_factory=list)


def evaluation_read(customer_id: int, *, now: datetime | None = None, chunk: Any = None) -> Pending:
    """The read half of an evaluation: which steps the values reached that had not fired, and
    which balance alerts recovered. Writes nothing; a step read here as missing may have been
    fired meanwhile by another evaluator: the write's ``ON CONFLICT DO NOTHING`` decides."""
    if chunk is not None and customer_id in chunk.snapshots:
        now, snap = chunk.at, chunk.snapshots[customer_id]
        alerts, existing = chunk.alerts[customer_id], chunk.fired[customer_id]
        ended = customer_id in chunk.ended
    else:
        now = now or timezone.now()
        snap = CustomerSnapshot.load(Customer.objects.get(pk=customer_id), now)
        alerts = alerts_for(snap.customer, snap)
        existing = _existing(customer_id, snap.period_start) if alerts else {}
        ended = True
    pending = Pending(customer_id, now, len(alerts), ended)
    for alert in alerts:
        done = existing.get(alert.pk, {})
        if all_fired(alert, done) or spend_quiet(alert, snap, done):
            continue  # nothing can fire this period: skip the (costly) reading
        value = snap.value(alert)
        if value is None:
            continue
        for index, threshold, missing in missing_steps(alert, value, done):
            if missing:
                pending.crossings.append(Crossing(alert, snap, index, threshold, value, missing))
        if alert.type == AlertType.CREDIT_BALANCE_BELOW and recovered_indexes(alert, value):
            pending.recovered.append((alert, snap, value))
    return pending


def evaluations_write(pendings: list[Pending]) -> Evaluation:
    """Write what ``evaluation_read`` decided for one customer or a whole batch, in the caller's
    transaction (one is opened if there is none): the ended periods' resolutions, every
    crossing's triggers with one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (only the
    rows it returns are new, so only they are announced), one ``alert.triggered`` event per
    new trigger written as one batch (``emit_many``), likewise ``credit.balance_low`` and the
    self-serve emails, then the balance alerts that recovered."""
    fired: list[int] = []
    resolved: list[int] = []
    with transaction.atomic(savepoint=False):
        ending: dict[datetime, list[int]] = {}
        for pending in pendings:
            if pending.ended:
                ending.setdefault(pending.now, []).append(pending.customer_id)
        for now, customer_ids in ending.items():
            resolved += _resolve(
                Q(customer_id__in=customer_ids, period_end__lte=now), "period_ended", now
            )
        crossings = [c for pending in pendings for c in pending.crossings]
        created = _insert_all(crossings)
        fired += _announce_all(crossings, created)
        for pending in pendings:
            for alert, snap, value in pending.recovered:
                resolved += _resolve_recovered(alert, snap, value, pending.now)
    return Evaluation(sum(p.alerts for p in pendings), fired, resolved)


def all_fired(alert: Alert, done: dict[int, set[int]]) -> bool:
    """Every threshold of a rising alert (usage, spend, commit burn) is plain and has fired
    this period: reading the value again cannot fire anything. Balance alerts may resolve, and
    recurring thresholds have further steps, so they are always read."""
    if alert.type == AlertType.CREDIT_BALANCE_BELOW:
        return False
    return all(
        not spec.get("recurring") and 1 in done.get(index, set())
        for index, spec in enumerate(alert.thresholds)
    )


def spend_quiet(alert: Alert, snap: CustomerSnapshot, done: dict[int, set[int]]) -> bool:
    """A spend alert whose next threshold is above what the spend can be now (the
    conservative bound of ``invoicing.alerts.spend``): no need to compute the invoice."""
    if alert.type != AlertType.SPEND_THRESHOLD or not snap.spend_memo:
        return False
    ceiling = spend_ceiling(snap)
    if ceiling is None:
        return False
    lowest = next_threshold(alert.thresholds, done)
    return lowest is not None and ceiling < lowest


def missing_steps(
    alert: Alert, value: Decimal, done: dict[int, set[int]]
) -> list[tuple[int, Decimal, list[int]]]:
    """Per threshold: (index, threshold, the steps ``value`` reached that have not fired)."""
    found = []
    for index, spec in enumerate(alert.thresholds):
        threshold = Decimal(str(spec["value"]))
        steps = crossed_steps(alert.type, value, threshold, bool(spec.get("recurring")))
        found.append((index, threshold, [s for s in steps if s not in done.get(index, set())]))
    return found


def recovered_indexes(alert: Alert, value: Decimal) -> list[int]:
    """A balance alert's thresholds the balance is back at or above."""
    return [i for i, spec in enumerate(alert.thresholds) if value >= Decimal(str(spec["value"]))]


def _existing(customer_id: int, period_start: datetime) -> dict[int, dict[int, set[int]]]:
    """{alert id: {threshold index: steps already fired}} in this period."""
    found: dict[int, dict[int, set[int]]] = {}
    rows = AlertTrigger.objects.filter(customer_id=customer_id, period_start=period_start)
    for alert_id, index, step in rows.values_list("alert_id", "threshold_index", "step"):
        found.setdefault(alert_id, {}).setdefault(index, set()).add(step)
    return found


TriggerKey = tuple[int, int, int, int]  # alert, customer, threshold index, step


def _insert_all(crossings: list[Crossing]) -> dict[TriggerKey, int]:
    """One INSERT for every step of ``crossings``, in the order of the unique key (two
    evaluators inserting overlapping batches wait for each other in the same order, never in
    a cycle); the ids of the rows that were new, by (alert, customer, index, step)."""
    rows = sorted(
        ((c.alert.pk, c.snap.customer.pk, c.snap.period_start, c.index, step, c)
         for c in crossings for step in c.steps),
        key=lambda row: row[:5],
    )  # fmt: skip
    if not rows:
        return {}
    columns: list[list[Any]] = [[] for _ in range(8)]
    for alert_id, customer_id, start, index, step, c in rows:
        values = (alert_id, customer_id, start, c.snap.period_end, index, step)
        for column, value in zip(columns, (*values, c.threshold, c.value), strict=True):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO invoicing_alerttrigger (alert_id, customer_id, period_start,"
            " period_end, threshold_index, step, threshold, value, triggered_at,"
            " resolved_reason) SELECT t.alert_id, t.customer_id, t.period_start,"
            " t.period_end, t.threshold_index, t.step, t.threshold, t.value,"
            " clock_timestamp(), '' FROM unnest(%s::bigint[], %s::bigint[],"
            " %s::timestamptz[], %s::timestamptz[], %s::smallint[], %s::integer[],"
            " %s::numeric[], %s::numeric[]) WITH ORDINALITY AS t(alert_id, customer_id,"
            " period_start, period_end, threshold_index, step, threshold, value, n)"
            " ORDER BY t.n"
            " ON CONFLICT (alert_id, customer_id, period_start, threshold_index, step)"
            " DO NOTHING RETURNING id, alert_id, customer_id, threshold_index, step",
            columns,
        )
        return {(a, c, i, s): pk for pk, a, c, i, s in cursor.fetchall()}


def _announce_all(crossings: list[Crossing], created: dict[TriggerKey, int]) -> list[int]:
    """Announce each new trigger once, in the order the evaluations found them: one
    ``alert.triggered`` event each (and ``credit.balance_low`` for balance alerts, an email
    outbox row for self-serve ones), each kind written as one batch."""
    triggered: list[Event] = []
    balance_low: list[Event] = []
    emails: list[tuple[str, dict[str, Any]]] = []
    fired: list[int] = []
    for c in crossings:
        alert, snap = c.alert, c.snap
        for step in c.steps:
            trigger_id = created.get((alert.pk, snap.customer.pk, c.index, step))
            if trigger_id is None:
                continue  # fired already (a retry, another evaluator): announced then
            fired.append(trigger_id)
            data = event_data(
                alert,
                snap.customer,
                trigger_id=trigger_id,
                threshold={"index": c.index, "value": c.threshold, "step": step},
                value=c.value,
                period_start=snap.period_start,
                period_end=snap.period_end,
            )
            triggered.append((data, f"alert.triggered:{trigger_id}"))
            if alert.type == AlertType.CREDIT_BALANCE_BELOW:
                balance = {**data, "currency": alert.currency, "balance": c.value}
                balance_low.append((balance, f"credit.balance_low:{trigger_id}"))
            if alert.owner == AlertOwner.CUSTOMER:
                emails.append((f"alert.email:{trigger_id}", {"trigger_id": trigger_id}))
    emit_many("alert.triggered", triggered)
    emit_many("credit.balance_low", balance_low)
    outbox_enqueue_many(EMAIL_TOPIC, emails)
    return fired


def event_data(alert: Alert, customer: Customer, **extra: Any) -> dict[str, Any]:
    return {
        "alert": {"id": alert.pk, "name": alert.name, "type": alert.type, "owner": alert.owner},
        "customer": customer.external_id,
        **extra,
    }


def _resolve(condition: Q, reason: str, now: datetime) -> list[int]:
    """Resolve the open triggers matching ``condition`` (one conditional UPDATE) and announce
    each; a trigger already resolved by someone else is not announced again."""
    open_ids = list(
        AlertTrigger.objects.filter(condition, resolved_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    if not open_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE invoicing_alerttrigger SET resolved_at = %s, resolved_reason = %s"
            " WHERE id = ANY(%s) AND resolved_at IS NULL RETURNING id",
            [now, reason, open_ids],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    events: list[Event] = []
    for trigger in (
        AlertTrigger.objects.filter(pk__in=ids).select_related("alert", "customer").order_by("pk")
    ):
        data = event_data(
            trigger.alert,
            trigger.customer,
            trigger_id=trigger.pk,
            reason=reason,
            period_start=trigger.period_start,
            period_end=trigger.period_end,
        )
        events.append((data, f"alert.resolved:{trigger.pk}"))
    emit_many("alert.resolved", events)
    return ids


def resolve_ended_periods(customer_id: int, now: datetime) -> list[int]:
    return _resolve(Q(customer_id=customer_id, period_end__lte=now), "period_ended", now)


def _resolve_recovered(
    alert: Alert, snap: CustomerSnapshot, value: Decimal, now: datetime
) -> list[int]:
    recovered = recovered_indexes(alert, value)
    if not recovered:
        return []
    condition = Q(
        alert=alert,
        customer=snap.customer,
        period_start=snap.period_start,
        threshold_index__in=recovered,
    )
    return _resolve(condition, "recovered", now)
