"""What became of one event id, for ``GET /api/v1/events/{event_id}/status``.

In log mode the ingest answer says ``queued`` (durably logged) or ``rejected``; what the sink
decided later is read here: the stored event (``accepted``, or ``unattributed`` while its
customer is unknown), how many sends with other content were kept as conflicts, and how many
sends were rejected. Re-sends with the same content (``duplicate``) leave no row, as on the
direct path. Reads the configured usage store (a columnar store keeps attributed events in
its engine), then PostgreSQL (unattributed events, and every event of the default store).
"""

from __future__ import annotations

from typing import Any, NoReturn

from accounts.models import ApiKey, Customer
from billingsite.errors import AppError
from metering.models import EventConflict, RejectedEvent, UsageEvent
from metering.stores import event_store


def event_status(*, api_key: ApiKey, event_id: str, namespace: str = "") -> dict[str, Any]:
    """The outcome of ``event_id``; a customer-bound key sees only its customer's events
    (and its own rejected sends). 404 ``event_not_found`` when nothing is known (yet)."""
    bound = api_key.customer_id
    if "\x00" in event_id or "\x00" in namespace:  # never stored (validation refuses NUL)
        _not_found(event_id.replace("\x00", "\ufffd"), namespace.replace("\x00", "\ufffd"))
    stored = _stored(namespace, event_id)
    if stored is not None and bound is not None and stored["customer_id"] != bound:
        stored = None
    conflicts = (
        EventConflict.objects.filter(namespace=namespace, event_id=event_id).count()
        if stored is not None
        else 0
    )
    rejected = RejectedEvent.objects.filter(namespace=namespace, event_id=event_id)
    if bound is not None:
        rejected = rejected.filter(api_key=api_key)
    rejections = rejected.count()
    if stored is None and not rejections:
        _not_found(event_id, namespace)
    status = "rejected"
    if stored is not None:
        status = "accepted" if stored["customer_id"] is not None else "unattributed"
    customer = None
    if stored is not None and stored["customer_id"] is not None:
        customer = Customer.objects.filter(pk=stored["customer_id"]).first()
    return {
        "id": event_id,
        "namespace": namespace,
        "status": status,
        "customer": customer.external_id if customer else None,
        "customer_ref": stored["customer_ref"] if stored else None,
        "received_at": stored["received_at"] if stored else None,
        "late": bool(stored["is_late"]) if stored else False,
        "conflicts": conflicts,
        "rejections": rejections,
    }


def _stored(namespace: str, event_id: str) -> dict[str, Any] | None:
    """The id's stored event: in the configured usage store when it keeps events outside
    PostgreSQL (a columnar store), else (or while unattributed, kept in PostgreSQL by every
    store) PostgreSQL's row."""
    lookup = getattr(event_store(), "stored_event", None)
    if lookup is not None:
        found: dict[str, Any] | None = lookup(namespace, event_id)
        if found is not None:
            return found
    row = (
        UsageEvent.objects.filter(namespace=namespace, event_id=event_id)
        .values("customer_id", "customer_ref", "received_at", "is_late")
        .first()
    )
    return dict(row) if row is not None else None


def _not_found(event_id: str, namespace: str) -> NoReturn:
    raise AppError(
        "event_not_found",
        "No event with this id is stored or rejected. An event answered `queued` is shown "
        "once a sink has applied it (see tally_eventlog_backlog_messages).",
        details={"id": event_id, "namespace": namespace},
        status_code=404,
    )
