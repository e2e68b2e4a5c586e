"""Reads for refunds and disputes: queues, the evidence packet, reports, API querysets.

The evidence packet reads the disputed period's raw events once, grouped by event type and day
in the database (one range scan of the ``(customer, type, timestamp)`` index), so a busy
customer-month stays one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import ApiKey, Customer
from accounts.selectors import customer_for_key_by_identifier
from disputes.models import Dispute, Refund
from disputes.states import DISPUTE_OPEN, RefundStatus
from invoicing.models import Invoice, Payment
from metering.models import MeterVersion, UsageEvent


def disputes_queue() -> QuerySet[Dispute]:
    """Open disputes, evidence due soonest first (no due date last)."""
    return (
        Dispute.objects.filter(status__in=DISPUTE_OPEN)
        .select_related("customer", "assignee", "invoice")
        .order_by("due_by", "pk")
    )


def refunds_awaiting_approval() -> QuerySet[Refund]:
    return (
        Refund.objects.filter(status=RefundStatus.REQUESTED)
        .select_related("customer", "requested_by")
        .order_by("created_at")
    )


@dataclass(frozen=True)
class UsageDay:
    meter: str
    event_type: str
    day: date
    events: int
    first_at: datetime
    last_at: datetime


def usage_summary(customer_id: int, start: datetime, end: datetime) -> list[UsageDay]:
    """Per meter and UTC day in ``[start, end)``: event count, first and last event time."""
    meters_by_type: dict[str, list[str]] = {}
    for event_type, key in MeterVersion.objects.values_list("event_type", "meter__key"):
        meters_by_type.setdefault(event_type, [])
        if key not in meters_by_type[event_type]:
            meters_by_type[event_type].append(key)
    if not meters_by_type:
        return []
    rows = (
        UsageEvent.objects.filter(
            customer_id=customer_id,
            type__in=list(meters_by_type),
            timestamp__gte=start,
            timestamp__lt=end,
        )
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("type", "day")
        .annotate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
        .order_by("type", "day")
    )
    return [
        UsageDay(
            meter=", ".join(meters_by_type[row["type"]]),
            event_type=row["type"],
            day=row["day"],
            events=row["n"],
            first_at=row["first"],
            last_at=row["last"],
        )
        for row in rows
    ]


def _period(dispute: Dispute) -> tuple[datetime, datetime] | None:
    if dispute.invoice is not None:
        return dispute.invoice.period_start, dispute.invoice.period_end
    return None


def evidence_packet(dispute: Dispute) -> dict[str, Any]:
    """Everything we hold that speaks to the disputed charge."""
    from accounts.portal.selectors import usage_sign_ins

    invoice: Invoice | None = dispute.invoice
    period = _period(dispute)
    customer = dispute.customer
    contract = invoice.contract if invoice is not None else None
    usage = usage_summary(customer.pk, *period) if customer is not None and period else []
    sign_ins = (
        list(usage_sign_ins(customer, start=period[0] if period else None)[:200])
        if customer is not None
        else []
    )
    return {
        "dispute": dispute,
        "invoice": invoice,
        "customer": customer,
        "period": period,
        "contract": contract,
        "usage": usage,
        "usage_events": sum(day.events for day in usage),
        "sign_ins": sign_ins,
        "notes": list(dispute.notes.select_related("author")),
        "submissions": list(dispute.submissions.select_related("actor")),
    }


def evidence_draft(packet: dict[str, Any]) -> dict[str, str]:
    """Stripe evidence fields prefilled from the packet (the agent edits them)."""
    dispute: Dispute = packet["dispute"]
    if dispute.evidence:
        return dict(dispute.evidence)
    customer, invoice, contract = packet["customer"], packet["invoice"], packet["contract"]
    lines = [
        f"{d.day} {d.meter}: {d.events} events, {d.first_at:%H:%M:%S}-{d.last_at:%H:%M:%S} UTC"
        for d in packet["usage"]
    ]
    access = [
        f"{s.at:%Y-%m-%d %H:%M} UTC {getattr(s, 'ip', '') or ''}".strip()
        for s in packet["sign_ins"]
    ]
    draft = {
        "customer_name": customer.name if customer else "",
        "customer_email_address": getattr(customer, "email", "") or "",
        "product_description": (
            f"Usage-based service under plan {contract.plan_version}"
            if contract
            else "Usage-based service"
        ),
        "service_date": (
            f"{packet['period'][0]:%Y-%m-%d} to {packet['period'][1]:%Y-%m-%d}"
            if packet["period"]
            else ""
        ),
        "access_activity_log": "\n".join(access)[:20000],
        "uncategorized_text": (
            f"Invoice {invoice.number if invoice else '-'}: "
            f"{packet['usage_events']} usage events in the period.\n" + "\n".join(lines)
        )[:20000],
        "customer_communication": "\n".join(
            f"{n.created_at:%Y-%m-%d} {n.body}" for n in packet["notes"]
        )[:20000],
    }
    return {k: v for k, v in draft.items() if v}


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    payments: int
    disputes: int
    dispute_rate: Decimal
    won: int
    lost: int
    win_rate: Decimal | None
    refunds_by_reason: list[dict[str, Any]]
    refunds_by_agent: list[dict[str, Any]]


def report(start: datetime, end: datetime) -> Report:
    """Dispute rate (disputes / succeeded payments created in the period), win rate (won /
    decided disputes closed in the period), succeeded refunds by reason and by requester."""
    payments = Payment.objects.filter(
        status="succeeded", created_at__gte=start, created_at__lt=end
    ).count()
    disputes = Dispute.objects.filter(created_at__gte=start, created_at__lt=end).count()
    closed = Dispute.objects.filter(closed_at__gte=start, closed_at__lt=end)
    won = closed.filter(status="won").count()
    lost = closed.filter(status="lost").count()
    refunds = Refund.objects.filter(
        status=RefundStatus.SUCCEEDED, settled_at__gte=start, settled_at__lt=end
    )
    sums = {"count": Count("id"), "total": Sum("amount")}
    by_reason: list[dict[str, Any]] = [
        dict(row)
        for row in refunds.values("reason", "currency")
        .annotate(**sums)
        .order_by("reason", "currency")
    ]
    by_agent: list[dict[str, Any]] = [
        dict(row)
        for row in refunds.values("requested_by__username", "currency")
        .annotate(**sums)
        .order_by("requested_by__username", "currency")
    ]
    rate = (Decimal(disputes) / payments).quantize(Decimal("0.0001")) if payments else Decimal(0)
    decided = won + lost
    return Report(
        start,
        end,
        payments,
        disputes,
        rate,
        won,
        lost,
        (Decimal(won) / decided).quantize(Decimal("0.0001")) if decided else None,
        by_reason,
        by_agent,
    )


def _visible(rows: QuerySet[Any], api_key: ApiKey | None) -> QuerySet[Any]:
    bound = getattr(api_key, "customer_id", None)
    return rows.filter(customer_id=bound) if bound else rows


def refunds_for_api(
    *,
    api_key: ApiKey | None,
    customer_external_id: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Refund]:
    rows = _visible(Refund.objects.select_related("customer", "invoice", "payment"), api_key)
    return _filter(rows, api_key, customer_external_id, status, start, end).order_by(
        "-created_at", "-pk"
    )


def disputes_for_api(
    *,
    api_key: ApiKey | None,
    customer_external_id: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Dispute]:
    rows = _visible(Dispute.objects.select_related("customer", "invoice"), api_key)
    return _filter(rows, api_key, customer_external_id, status, start, end).order_by(
        "-created_at", "-pk"
    )


def _customer_visible(api_key: ApiKey | None, identifier: str) -> Customer:
    """The customer named by an external id or alias, if this key may see it (404 otherwise)."""
    return customer_for_key_by_identifier(api_key, identifier)


def _filter(
    rows: QuerySet[Any],
    api_key: ApiKey | None,
    external_id: str | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
) -> QuerySet[Any]:
    if external_id:
        rows = rows.filter(customer=_customer_visible(api_key, external_id))
    if status:
        rows = rows.filter(status=status)
    if start:
        rows = rows.filter(created_at__gte=start)
    if end:
        rows = rows.filter(created_at__lt=end)
    return rows
