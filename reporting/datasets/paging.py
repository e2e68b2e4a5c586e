"""Keyset paging over a queryset by ``(time column, id)``: the order every file and API page
shares. Half-open time window ``[since, until)`` on the same column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from billingsite.exports import Key, Row

M = TypeVar("M", bound=Model)


def keyset_page(
    queryset: QuerySet[M],
    *,
    time_field: str,
    since: datetime | None,
    until: datetime | None,
    after: Key | None,
    limit: int,
    to_row: Callable[[M], Row],
    time_of: Callable[[M], datetime],
) -> list[tuple[Key, Row]]:
    """Rows of ``queryset`` ordered by ``(time_field, pk)`` strictly after ``after``."""
    filters: dict[str, Any] = {f"{time_field}__isnull": False}
    if since is not None:
        filters[f"{time_field}__gte"] = since
    if until is not None:
        filters[f"{time_field}__lt"] = until
    rows = queryset.filter(**filters)
    if after is not None:
        moment, pk = after
        rows = rows.filter(
            Q(**{f"{time_field}__gt": moment}) | Q(**{time_field: moment, "pk__gt": pk})
        )
    page = rows.order_by(time_field, "pk")[:limit]
    return [((time_of(obj), obj.pk), to_row(obj)) for obj in page]
