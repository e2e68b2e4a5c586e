"""The counter rows: one SQL statement per change, the limit checked by the row's own lock.

``counter_add`` is an upsert whose ``ON CONFLICT DO UPDATE ... WHERE`` evaluates the limit on
the latest committed row version after taking its lock, so concurrent callers serialise on the
row and can never push ``used + reserved`` past ``limit``. A fresh row is only inserted when the
amount alone fits. Nothing here commits: callers run it inside their business transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

_ADD = """
INSERT INTO invoicing_entitlementcounter AS c
    (customer_id, feature_id, period_start, period_end, used, reserved, updated_at)
SELECT %(customer)s, %(feature)s, %(start)s, %(end)s, %(used)s, %(reserved)s, now()
WHERE %(limit)s::numeric IS NULL OR %(used)s + %(reserved)s <= %(limit)s::numeric
ON CONFLICT (customer_id, feature_id, period_start) DO UPDATE
SET used = c.used + EXCLUDED.used, reserved = c.reserved + EXCLUDED.reserved, updated_at = now()
WHERE %(limit)s::numeric IS NULL
   OR c.used + c.reserved + EXCLUDED.used + EXCLUDED.reserved <= %(limit)s::numeric
RETURNING id, used, reserved
"""
_ADJUST = """
UPDATE invoicing_entitlementcounter AS c
SET used = c.used + %(used)s, reserved = c.reserved + %(reserved)s, updated_at = now()
WHERE c.id = %(id)s
  AND (%(limit)s::numeric IS NULL OR %(used)s + %(reserved)s <= 0
       OR c.used + c.reserved + %(used)s + %(reserved)s <= %(limit)s::numeric)
RETURNING id, used, reserved
"""


@dataclass(frozen=True)
class CounterState:
    id: int
    used: Decimal
    reserved: Decimal


def counter_add(
    *,
    customer_id: int,
    feature_id: int,
    period_start: datetime,
    period_end: datetime | None,
    used: Decimal,
    reserved: Decimal,
    limit: Decimal | None,
) -> CounterState | None:
    """Add ``used``/``reserved`` (both >= 0) if the total stays within ``limit``; None if not."""
    with connection.cursor() as cursor:
        cursor.execute(
            _ADD,
            {
                "customer": customer_id,
                "feature": feature_id,
                "start": period_start,
                "end": period_end,
                "used": used,
                "reserved": reserved,
                "limit": limit,
            },
        )
        row = cursor.fetchone()
    return None if row is None else CounterState(*row)


def counter_adjust(
    counter_id: int, *, used: Decimal, reserved: Decimal, limit: Decimal | None
) -> CounterState | None:
    """Move amounts on an existing row; a change that does not grow the total always applies."""
    with connection.cursor() as cursor:
        cursor.execute(
            _ADJUST, {"id": counter_id, "used": used, "reserved": reserved, "limit": limit}
        )
        row = cursor.fetchone()
    return None if row is None else CounterState(*row)
