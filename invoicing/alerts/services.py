"""Alert writes: create, update, delete (audited), and the evaluation run over the queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billingsite.errors import AppError
from invoicing.alerts.chunk import Chunk
from invoicing.alerts.evaluation import (
    Evaluation,
    Pending,
    evaluation_read,
    evaluations_write,
    resolve_ended_periods,
)
from invoicing.alerts.models import Alert, AlertTrigger, AlertType
from invoicing.alerts.queue import alerts_claim, alerts_mark_customers, alerts_release
from invoicing.alerts.selectors import alert_customers

logger = logging.getLogger(__name__)

MAX_THRESHOLDS = 10


class AlertInvalid(AppError):
    def __init__(self, message: str) -> None:
        super().__init__("alert_invalid", message)


@dataclass(frozen=True)
class RunStats:
    customers: int
    fired: int
    resolved: int
    failed: int
    quiet: int = 0  # claimed customers the batch's reads showed had nothing to fire


def alerts_evaluate_pending(*, max_rounds: int = 50, batch: int | None = None) -> RunStats:
    """Evaluate queued customers until the queue is empty (or ``max_rounds`` batches).

    Each batch is read ahead (``Chunk``); the customers with something to fire or resolve are
    read one by one, then written together in one transaction (``evaluations_write``). A
    customer whose evaluation fails is logged and stays leased; it is tried again when the
    lease ends, and never blocks the others: when the batch's write fails, each customer is
    evaluated again on its own."""
    size = batch or int(getattr(settings, "ALERTS_EVALUATION_BATCH", 200))
    customers = fired = resolved = failed = quiet = 0
    for _ in range(max_rounds):
        claimed = alerts_claim(size)
        if not claimed:
            break
        done, pendings = [], []
        chunk = _chunk([customer_id for customer_id, _ in claimed])
        for customer_id, marked_at in claimed:
            try:
                if chunk is not None and not chunk.needs_evaluation(customer_id):
                    done.append((customer_id, marked_at))
                    quiet += 1
                    continue
                pending = evaluation_read(customer_id, chunk=chunk)
            except Exception:
                logger.exception("alert evaluation failed", extra={"customer_id": customer_id})
                failed += 1
                continue
            pendings.append((pending, (customer_id, marked_at)))
        result = _write([pending for pending, _ in pendings])
        if result is not None:
            done += [claim for _, claim in pendings]
            fired, resolved = fired + len(result.fired), resolved + len(result.resolved)
        else:
            for pending, claim in pendings:
                try:
                    with transaction.atomic():
                        one = evaluations_write([pending])
                except Exception:
                    logger.exception(
                        "alert evaluation failed", extra={"customer_id": pending.customer_id}
                    )
                    failed += 1
                    continue
                done.append(claim)
                fired, resolved = fired + len(one.fired), resolved + len(one.resolved)
        alerts_release(done)
        customers += len(claimed)
    return RunStats(customers, fired, resolved, failed, quiet)


def _write(pendings: list[Pending]) -> Evaluation | None:
    """The batch's writes in one transaction; None (rolled back) when it failed."""
    if not pendings:
        return Evaluation(0, [], [])
    try:
        with transaction.atomic():
            return evaluations_write(pendings)
    except Exception:
        logger.exception("could not write %d alert evaluations together", len(pendings))
        return None


def _chunk(customer_ids: list[int]) -> Chunk | None:
    """The batch's reads done ahead; on any failure each customer reads its own, as before."""
    try:
        return Chunk.load(customer_ids, timezone.now())
    except Exception:
        logger.exception("could not read the alert batch ahead; evaluating one by one")
        return None


def alerts_periods_roll(*, now: datetime | None = None) -> int:
    """Resolve (``period_ended``) the open triggers whose period is over, and queue their
    customers so their new period is evaluated; returns the triggers resolved."""
    now = now or timezone.now()
    customers = sorted(
        set(
            AlertTrigger.objects.filter(resolved_at__isnull=True, period_end__lte=now)
            .values_list("customer_id", flat=True)
            .distinct()
        )
    )
    resolved = 0
    for customer_id in customers:
        with transaction.atomic():
            resolved += len(resolve_ended_periods(customer_id, now))
            alerts_mark_customers([customer_id])
    return resolved


def alert_values_validated(values: dict[str, Any]) -> dict[str, Any]:
    """Check the combination of fields an alert type needs; raise ``AlertInvalid``."""
    kind = values["type"]
    if (values.get("customer") is None) == (values.get("plan") is None):
        raise AlertInvalid("An alert applies to one customer or to one plan (give exactly one).")
    if kind == AlertType.USAGE_THRESHOLD and values.get("meter") is None:
        raise AlertInvalid("A usage_threshold alert needs a meter.")
    if kind != AlertType.USAGE_THRESHOLD and (values.get("meter") or values.get("group_filter")):
        raise AlertInvalid("Only usage_threshold alerts take a meter and a group filter.")
    if kind == AlertType.CREDIT_BALANCE_BELOW and not values.get("currency"):
        raise AlertInvalid("A credit_balance_below alert needs a currency.")
    thresholds = values.get("thresholds") or []
    if not 1 <= len(thresholds) <= MAX_THRESHOLDS:
        raise AlertInvalid(f"Give between 1 and {MAX_THRESHOLDS} thresholds.")
    clean = []
    for spec in thresholds:
        value = Decimal(str(spec["value"]))
        recurring = bool(spec.get("recurring", False))
        if recurring and kind == AlertType.CREDIT_BALANCE_BELOW:
            raise AlertInvalid("A credit balance threshold cannot be recurring.")
        if value <= 0 and (recurring or kind != AlertType.CREDIT_BALANCE_BELOW):
            raise AlertInvalid("Thresholds must be greater than zero.")
        clean.append({"value": f"{value.normalize():f}", "recurring": recurring})
    return {
        **values,
        "thresholds": clean,
        "currency": (values.get("currency") or "").upper(),
        "group_filter": values.get("group_filter") or {},
    }


def alert_create(*, actor: Any = None, **values: Any) -> Alert:
    """Create an alert (audited) and queue its customers, so it is evaluated without waiting
    for the next event."""
    values = alert_values_validated(values)
    with transaction.atomic():
        alert = Alert(created_by=actor if getattr(actor, "pk", None) else None, **values)
        alert._history_user = actor if getattr(actor, "pk", None) else None  # type: ignore[attr-defined]
        alert.full_clean()
        alert.save()
        alerts_mark_customers(alert_customers(alert))
    return alert


def alert_update(alert: Alert, *, actor: Any = None, **changes: Any) -> Alert:
    current = {
        f: getattr(alert, f)
        for f in ("name", "type", "customer", "plan", "meter", "group_filter", "currency")
    }
    current |= {"thresholds": alert.thresholds, "enabled": alert.enabled}
    values = alert_values_validated({**current, **changes})
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        for field, value in values.items():
            setattr(locked, field, value)
        locked._history_user = actor if getattr(actor, "pk", None) else None  # type: ignore[attr-defined]
        locked.full_clean()
        locked.save()
        alerts_mark_customers(alert_customers(locked))
    return locked


def alert_delete(alert: Alert, *, actor: Any = None) -> None:
    with transaction.atomic():
        alert._history_user = actor if getattr(actor, "pk", None) else None  # type: ignore[attr-defined]
        alert.delete()
