"""``events_ingest``: store a batch of wire-format events exactly once.

Invariant 1: an event id (within its namespace) is stored once, forever. The unique constraint
on ``(namespace, event_id)`` decides; the batch is inserted with one multi-row
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` sorted by id (so concurrent batches lock ids in
the same order and cannot deadlock), and ids that were not inserted are classified by comparing
content hashes with the stored row. The same transaction enqueues the newly countable events for
the rollup worker, so a committed event is always either queued or already rolled up.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import JSONField, Value
from django.utils import timezone

from accounts.models import ApiKey
from metering import metrics
from metering.eventlog import event_log_configured
from metering.eventlog.publish import events_publish, publish_events
from metering.ingest.limits import IngestLimits, ingest_limits
from metering.ingest.wire import EventValidator, Rejection, ValidEvent, not_own_customer
from metering.kicks import rollup_kick
from metering.models import EventConflict, RejectedEvent
from metering.stores import PostgresStore, event_store

ACCEPTED, DUPLICATE, CONFLICT = "accepted", "duplicate", "conflict"
UNATTRIBUTED, REJECTED = "unattributed", "rejected"
OUTCOMES = (ACCEPTED, DUPLICATE, CONFLICT, UNATTRIBUTED, REJECTED)


@dataclass
class IngestResult:
    """Per-event outcomes in input order, and counts per outcome."""

    events: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)
    inserted_pks: list[int] = field(default_factory=list)

    def as_dict(self, *, only_not_accepted: bool = False) -> dict[str, Any]:
        """Counts and outcomes; ``only_not_accepted`` keeps the outcomes of the events that
        were not accepted (or, with the event log, not queued): still in input order, each with
        its ``index``: the compact response, most of whose events are usually accepted."""
        events = self.events
        if only_not_accepted:
            events = [e for e in events if e["status"] not in (ACCEPTED, "queued")]
        queued = {"queued": self.counts["queued"]} if "queued" in self.counts else {}
        return {**{k: self.counts.get(k, 0) for k in OUTCOMES}, **queued, "events": events}


def resolve_customers(refs: Iterable[str]) -> dict[str, int]:
    """Map external ids and aliases to customer pks with one query."""
    wanted = list(set(refs))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT external_id, id FROM accounts_customer WHERE external_id = ANY(%s)"
            " UNION ALL SELECT alias, customer_id FROM accounts_customeralias"
            " WHERE alias = ANY(%s)",
            [wanted, wanted],
        )
        return dict(cursor.fetchall())


def events_ingest(
    *,
    api_key: ApiKey | None,
    events: Sequence[Any],
    received_at: datetime | None = None,
    id_namespace: str = "",
    limits: IngestLimits | None = None,
    check_imprecise: bool = True,
    store_rejections: bool = True,
    vendor: str = "",
) -> IngestResult:
    """Validate, dedupe, attribute and store ``events``; one outcome per event, input order.

    ``api_key`` bound to a customer may only send that customer's events (others are rejected
    with ``customer_not_allowed``). ``id_namespace`` separates ids of other entry points
    (vendor adapters) from native ids; ``vendor`` names the adapter on rejected rows. Retries
    the whole batch on a deadlock, which is safe because nothing was committed.
    ``store_rejections=False`` is for replays of rows already kept in the rejected queue.
    """
    received_at = received_at or timezone.now()
    limits = limits or ingest_limits()
    if event_log_configured():  # log mode (issue 16): a sink stores them (metering/eventlog)
        published = events_publish(
            api_key=api_key,
            events=events,
            received_at=received_at,
            limits=limits,
            check_imprecise=check_imprecise,
            resolve=resolve_customers,
            keep=lambda rejected: _save_reviews(
                api_key, id_namespace, received_at, [], rejected if store_rejections else [], vendor
            ),
            publish=lambda valid: publish_events(id_namespace, received_at, vendor, valid),
        )
        return IngestResult(events=published.events, counts=published.counts)
    validator = EventValidator(limits, received_at, check_imprecise=check_imprecise)
    checked = [validator.validate(i, raw) for i, raw in enumerate(events)]
    attempts = 1 if connection.in_atomic_block else 3
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                result = _store(
                    api_key,
                    checked,
                    received_at,
                    id_namespace,
                    store_rejections=store_rejections,
                    vendor=vendor,
                )
            break
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    metrics.count_outcomes(result.counts)
    if result.inserted_pks:
        transaction.on_commit(rollup_kick)
    return result


def _store(
    api_key: ApiKey | None,
    checked: list[ValidEvent | Rejection],
    received_at: datetime,
    namespace: str,
    *,
    store_rejections: bool,
    vendor: str,
    batch_token: str = "",
) -> IngestResult:
    outcomes: list[dict[str, Any]] = [{} for _ in checked]
    rejections = [c for c in checked if isinstance(c, Rejection)]
    valid = [c for c in checked if isinstance(c, ValidEvent)]
    bound = api_key.customer_id if api_key is not None else None
    first, repeats, looked_up = _split(valid, bound, rejections)
    inserted, stored, attributed = _insert_first(
        first, looked_up, received_at, namespace, batch_token
    )
    reference = {eid: (pk, first[eid].content_hash) for eid, pk in inserted.items()}
    reference.update(stored)
    conflicts: list[tuple[ValidEvent, int | None]] = []
    for event in [*first.values(), *repeats]:
        if event is first[event.event_id] and event.event_id in inserted:
            status = ACCEPTED if event.event_id in attributed else UNATTRIBUTED
        else:
            existing_pk, existing_hash = reference.get(event.event_id, (None, b""))
            status = DUPLICATE if existing_hash == event.content_hash else CONFLICT
            if status == CONFLICT:
                conflicts.append((event, existing_pk or None))
        outcomes[event.index] = {"index": event.index, "id": event.event_id, "status": status}
    for rej in rejections:
        outcomes[rej.index] = {
            "index": rej.index,
            "id": rej.event_id,
            "status": REJECTED,
            "reason": rej.reason,
            "message": rej.message,
        }
    _save_reviews(
        api_key, namespace, received_at, conflicts, rejections if store_rejections else [], vendor
    )
    counts = {**dict.fromkeys(OUTCOMES, 0), **Counter(o["status"] for o in outcomes)}
    return IngestResult(events=outcomes, counts=counts, inserted_pks=sorted(inserted.values()))


def _split(
    valid: list[ValidEvent], bound: int | None, rejections: list[Rejection]
) -> tuple[dict[str, ValidEvent], list[ValidEvent], dict[str, int] | None]:
    """First occurrence of each id, the repeats, and the customers looked up (None when no
    lookup was needed: an unbound key); a bound key's events for other customers are added to
    ``rejections``."""
    customer_ids = resolve_customers(v.customer_ref for v in valid) if bound is not None else {}
    first: dict[str, ValidEvent] = {}
    repeats: list[ValidEvent] = []
    for event in valid:
        if bound is not None and customer_ids.get(event.customer_ref) != bound:
            rejections.append(not_own_customer(event))
        elif event.event_id in first:
            repeats.append(event)
        else:
            first[event.event_id] = event
    return first, repeats, (customer_ids if bound is not None else None)


def _insert_first(
    first: dict[str, ValidEvent],
    looked_up: dict[str, int] | None,
    received_at: datetime,
    namespace: str,
    batch_token: str,
) -> tuple[dict[str, int], dict[str, tuple[int, bytes]], set[str]]:
    """Store the first occurrences: (new id -> pk, stored id -> (pk, hash), new ids attributed
    to a customer). Customers not looked up yet (a key that may send any customer's events)
    are resolved by PostgreSQL in its upsert: one round trip fewer per request."""
    store = event_store()
    if looked_up is None and isinstance(store, PostgresStore):
        return store.insert_events_attributing(list(first.values()), received_at, namespace)
    customer_ids = (
        looked_up
        if looked_up is not None
        else resolve_customers(e.customer_ref for e in first.values())
    )
    inserted, stored = store.insert_events(
        list(first.values()), customer_ids, received_at, namespace, batch_token=batch_token
    )
    attributed = {eid for eid in inserted if first[eid].customer_ref in customer_ids}
    return inserted, stored, attributed


def enqueue_for_rollup(event_pks: list[int], now: datetime) -> None:
    """Queue events for the rollup worker; call inside the transaction that made them countable."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO metering_rollupqueue (event_pks, created_at) VALUES (%s, %s)",
            [event_pks, now],
        )


def _save_reviews(
    api_key: ApiKey | None,
    namespace: str,
    received_at: datetime,
    conflicts: list[tuple[ValidEvent, int | None]],
    rejections: list[Rejection],
    vendor: str = "",
) -> None:
    if conflicts:
        EventConflict.objects.bulk_create(
            EventConflict(
                namespace=namespace,
                event_id=e.event_id,
                existing_id=pk,
                payload=e.raw,
                received_at=received_at,
            )
            for e, pk in conflicts
        )
    if rejections:
        RejectedEvent.objects.bulk_create(
            RejectedEvent(
                namespace=namespace,
                vendor=vendor,
                event_id=r.event_id.replace("\x00", "\ufffd"),
                payload=_jsonable(r.raw),
                reason=r.reason,
                message=r.message,
                received_at=received_at,
                api_key=api_key,
            )
            for r in rejections
        )


def events_refused_store(
    *, api_key: ApiKey | None, vendor: str, refusals: Sequence[Rejection], received_at: datetime
) -> None:
    """Keep events a vendor adapter refused before translation (no namespace to place them
    in, e.g. a CloudEvent without ``source``) in the rejected queue, as the vendor sent them,
    and count them as rejected: nothing that arrives is dropped."""
    if not refusals:
        return
    id_max = RejectedEvent._meta.get_field("event_id").max_length or 256
    kept = [replace(r, event_id=r.event_id[:id_max]) for r in refusals]
    with transaction.atomic():
        _save_reviews(api_key, "", received_at, [], kept, vendor)
    metrics.count_outcomes({REJECTED: len(refusals)})


def _jsonable(raw: Any) -> Any:
    """The payload as PostgreSQL can store it: NUL characters become U+FFFD, and a JSON
    ``null`` event is stored as JSON null (a bare None would be SQL NULL: not allowed)."""
    text = json.dumps(raw, default=str)
    if "\\u0000" in text:
        text = text.replace("\\u0000", "\\ufffd")
    value = json.loads(text)
    return Value(None, JSONField()) if value is None else value
