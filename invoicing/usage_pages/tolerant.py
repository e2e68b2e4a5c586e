"""The usage source of the pages that show a period as it stands (the usage overview, Customer
360): ``RememberedUsage``, except that a charge billing a meter that no longer exists (deleted
in the admin after the plan was written) reads as no usage instead of failing the page.

Billing itself keeps refusing such a charge (``unknown_meter``): an invoice must not be issued
without its usage. A page only shows the period so far, so it shows the charge without usage
detail, says so, and logs the missing meter once per page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from billingsite.errors import AppError
from invoicing.usage import EventValues, RememberedUsage, UsageReading

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


class NoEvents:
    """The event values of a meter that does not exist: none."""

    def __iter__(self) -> Iterator[Decimal]:
        return iter(())

    def totals(self) -> tuple[int, Decimal]:
        return 0, ZERO


class TolerantUsage(RememberedUsage):
    """``RememberedUsage`` where an unknown meter reads as no usage and is remembered in
    ``missing`` (meter keys, in the order met)."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: list[str] = []

    def meter_or_none(self, meter_key: str) -> Any:
        try:
            return self.meter(meter_key)
        except AppError as exc:
            if exc.code != "unknown_meter":
                raise
            if meter_key not in self.missing:
                self.missing.append(meter_key)
                logger.warning(
                    "usage page: a charge bills meter %r, which does not exist; "
                    "shown without usage",
                    meter_key,
                    extra={"meter_key": meter_key},
                )
            return None

    def __call__(
        self,
        *,
        customer: Customer,
        meter_key: str,
        start: datetime,
        end: datetime,
        group_by: Sequence[str] | None = None,
    ) -> UsageReading:
        if self.meter_or_none(meter_key) is None:
            return UsageReading(total=ZERO)
        return super().__call__(
            customer=customer, meter_key=meter_key, start=start, end=end, group_by=group_by
        )

    def events(
        self, *, customer: Customer, meter_key: str, start: datetime, end: datetime
    ) -> EventValues:
        if self.meter_or_none(meter_key) is None:
            return NoEvents()
        return super().events(customer=customer, meter_key=meter_key, start=start, end=end)
