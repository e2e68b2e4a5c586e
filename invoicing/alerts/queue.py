"""Which customers to evaluate: marked by the rollup hook, claimed by the evaluator.

``alerts_mark_dirty`` is metering's "rollup applied" hook (registered in
``InvoicingConfig.ready()``): in the rollup's own transaction it upserts one
``AlertDirtyCustomer`` row per touched customer that has an enabled alert (its own, or its
plan's), so the mark commits if and only if the usage does; on commit it kicks the evaluation
task. Many events of one customer between two evaluations coalesce into one row.

``alerts_claim`` takes up to ``n`` rows with ``FOR UPDATE SKIP LOCKED``, those waiting longest
first, and stamps a lease, in a short transaction. A mark on a row still waiting keeps its
``queued_since`` (a busy customer is not sent to the back of the queue by its own events); a
mark on a claimed row starts the wait anew, since that usage came after the claim. After
evaluating, ``alerts_release`` deletes a row only if its ``marked_at`` is unchanged: a customer
marked again during the evaluation stays queued. A worker that dies mid-batch leaves leased
rows that are claimed again when the lease ends.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

logger = logging.getLogger(__name__)

_MARK_SQL = (
    "INSERT INTO invoicing_alertdirtycustomer (customer_id, marked_at, queued_since, claimed_at)"
    " SELECT c, clock_timestamp(), clock_timestamp(), NULL FROM unnest(%s::bigint[]) AS c"
    " WHERE EXISTS (SELECT 1 FROM invoicing_alert a WHERE a.customer_id = c AND a.enabled)"
    " OR EXISTS (SELECT 1 FROM invoicing_contract k"
    "  JOIN invoicing_planversion v ON v.id = k.plan_version_id"
    "  JOIN invoicing_alert a ON a.plan_id = v.plan_id AND a.enabled"
    "  WHERE k.customer_id = c)"
    " ORDER BY c"
    " ON CONFLICT (customer_id) DO UPDATE SET marked_at = excluded.marked_at, claimed_at = NULL,"
    " queued_since = CASE WHEN invoicing_alertdirtycustomer.claimed_at IS NULL"
    "  THEN invoicing_alertdirtycustomer.queued_since ELSE excluded.queued_since END"
)
_CLAIM_SQL = (
    "UPDATE invoicing_alertdirtycustomer d SET claimed_at = clock_timestamp()"
    " WHERE d.customer_id IN (SELECT customer_id FROM invoicing_alertdirtycustomer"
    "  WHERE claimed_at IS NULL OR claimed_at < clock_timestamp() - make_interval(secs => %s)"
    "  ORDER BY queued_since, customer_id LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING d.customer_id, d.marked_at"
)


def lease_seconds() -> int:
    return int(getattr(settings, "ALERTS_EVALUATION_LEASE_SECONDS", 120))


def alerts_mark_dirty(pairs: Collection[tuple[int, int]]) -> None:
    """Rollup-applied hook: queue the touched customers that have alerts; kick on commit."""
    customers = sorted({customer_id for customer_id, _meter_id in pairs})
    if not customers:
        return
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SQL, [customers])
        marked = cursor.rowcount
    if marked:
        transaction.on_commit(_kick)


def alerts_mark_customers(customer_ids: Collection[int]) -> None:
    """Queue customers whose alerts changed (a new alert is evaluated at once, not at the next
    event)."""
    alerts_mark_dirty([(pk, 0) for pk in customer_ids])


KICK_KEY = "alerts:evaluate-kick"
EVALUATE_TASK = "invoicing.alerts.evaluate"


def _kick() -> None:
    """Ask a worker to evaluate soon; at most one request per second (the beat entry runs
    the task every few seconds anyway). Sent by name: the tasks import the services, which
    import this queue."""
    try:
        if cache.add(KICK_KEY, 1, timeout=1):
            current_app.send_task(EVALUATE_TASK)
    except Exception:  # the beat schedule is the fallback; never fail a rollup over this
        logger.warning("could not enqueue an alert evaluation", exc_info=True)


def alerts_claim(limit: int) -> list[tuple[int, datetime]]:
    """Lease up to ``limit`` queued customers (longest waiting first)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [lease_seconds(), limit])
        return [(row[0], row[1]) for row in cursor.fetchall()]


def alerts_release(claimed: list[tuple[int, datetime]]) -> None:
    """Delete the evaluated rows that were not marked again since they were claimed."""
    if not claimed:
        return
    ids, marks = zip(*claimed, strict=True)
    # Rows locked in customer order, as the rollup hook's upsert takes them (ORDER BY c): a
    # DELETE joining in another order deadlocked with a rollup re-marking the same customers.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM invoicing_alertdirtycustomer d WHERE d.customer_id IN ("
            " SELECT x.customer_id FROM invoicing_alertdirtycustomer x"
            " JOIN unnest(%s::bigint[], %s::timestamptz[]) AS k(customer_id, marked_at)"
            " ON x.customer_id = k.customer_id AND x.marked_at = k.marked_at"
            " ORDER BY x.customer_id FOR UPDATE OF x)",
            [list(ids), list(marks)],
        )


def pending_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM invoicing_alertdirtycustomer")
        return int(cursor.fetchone()[0])
