"""Reads of usage-page access, for the back office and the dispute evidence packet."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Customer, UsagePageSignIn, UsageSignInMethod


def usage_sign_ins(
    customer: Customer,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    include_staff: bool = False,
) -> QuerySet[UsagePageSignIn]:
    """The customer's entries to its usage pages in ``[start, end)``, oldest first.

    Staff "open as customer" visits are the operator's own, not the customer's: left out
    unless ``include_staff`` (evidence of the customer's use must not count them)."""
    rows = UsagePageSignIn.objects.filter(customer=customer).select_related("user", "link")
    if start is not None:
        rows = rows.filter(at__gte=start)
    if end is not None:
        rows = rows.filter(at__lt=end)
    if not include_staff:
        rows = rows.exclude(method=UsageSignInMethod.STAFF)
    return rows.order_by("at", "pk")
