"""Late events: the hook between metering and invoicing (which imports metering, not reverse).

Invoicing registers a resolver: given customer pks, it returns for each customer the instant
up to which usage has been invoiced in a *finalized* invoice ("closed through"). When the
rollup worker applies an event whose timestamp is before its customer's closed-through instant,
it sets ``UsageEvent.is_late`` (and ``late_marked_at``); invoicing then bills those events as an
adjustment, reading them with ``metering.selectors.late_events``.

Because invoices read usage from rollups, "late" means "not yet rolled up when the period was
closed". An event rolled up between invoicing's usage read and its finalize commit would be
neither in the invoice nor marked late; invoicing's resolver closes that window by reporting a
period as closed from shortly before its draft is due for finalization (a margin far longer
than a rollup transaction), so such events are flagged and re-rated. Flagging an event the
invoice did include costs one re-rating and bills nothing twice (adjustments are differences).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime

ClosedThroughResolver = Callable[[Collection[int]], Mapping[int, datetime]]

_resolvers: list[ClosedThroughResolver] = []


def register_closed_period_resolver(resolver: ClosedThroughResolver) -> None:
    """Invoicing calls this once (in its AppConfig.ready)."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def unregister_closed_period_resolver(resolver: ClosedThroughResolver) -> None:
    if resolver in _resolvers:
        _resolvers.remove(resolver)


def closed_through(customer_ids: Collection[int]) -> dict[int, datetime]:
    """Latest closed-through instant per customer over all resolvers (absent: nothing closed)."""
    result: dict[int, datetime] = {}
    if not customer_ids:
        return result
    for resolver in _resolvers:
        for customer_id, instant in resolver(customer_ids).items():
            if customer_id not in result or instant > result[customer_id]:
                result[customer_id] = instant
    return result
