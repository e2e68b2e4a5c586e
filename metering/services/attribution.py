"""Attribute stored unattributed events once their customer or alias exists.

Called on commit of a customer/alias creation (see ``metering.signals``) for the new
identifiers, and periodically for everything (a safety net for an event whose ingest
transaction resolved its customer just before the customer committed).
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from metering.ingest.service import enqueue_for_rollup
from metering.kicks import rollup_kick
from metering.stores import event_store

_ATTRIBUTE_SQL = """
UPDATE metering_usageevent e
SET customer_id = m.customer_id, attributed_at = %s
FROM (SELECT external_id AS ref, id AS customer_id FROM accounts_customer
      UNION ALL SELECT alias, customer_id FROM accounts_customeralias) m
WHERE e.customer_id IS NULL AND e.customer_ref = m.ref {only}
RETURNING e.id
"""


@transaction.atomic
def events_attribute(*, identifiers: list[str] | None = None) -> int:
    """Attach unattributed events to the customer their ``customer_ref`` now names, and queue
    them for rollup in the same transaction. Returns how many events were attributed."""
    now = timezone.now()
    params: list[Any] = [now]
    only = ""
    if identifiers is not None:
        if not identifiers:
            return 0
        only = "AND e.customer_ref = ANY(%s)"
        params.append(list(identifiers))
    with connection.cursor() as cursor:
        cursor.execute(_ATTRIBUTE_SQL.format(only=only), params)
        pks = sorted(row[0] for row in cursor.fetchall())
    if pks:
        enqueue_for_rollup(pks, now)
        adopt = getattr(event_store(), "adopt", None)
        if adopt is not None:  # a usage store outside PostgreSQL counts them from now on
            adopt(pks)
        transaction.on_commit(rollup_kick)
    return len(pks)
