"""The dunning schedule, read from settings (``COLLECTIONS_*``, see ``billingsite/settings.py``).

Days are whole days: retries count from the first failed payment, reminders from the due date
(negative = before it), the suspension from the due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings


@dataclass(frozen=True)
class DunningSchedule:
    retry_days: tuple[int, ...] = (3, 5, 7)
    reminder_days: tuple[int, ...] = (-3, 0, 3, 7)
    suspend_after_days: int | None = None

    @classmethod
    def from_settings(cls) -> DunningSchedule:
        return cls(
            retry_days=tuple(sorted(getattr(settings, "COLLECTIONS_RETRY_DAYS", (3, 5, 7)))),
            reminder_days=tuple(
                sorted(getattr(settings, "COLLECTIONS_REMINDER_DAYS", (-3, 0, 3, 7)))
            ),
            suspend_after_days=getattr(settings, "COLLECTIONS_SUSPEND_AFTER_DAYS", None),
        )

    def retries(self, failed_at: datetime) -> list[tuple[str, datetime]]:
        """``("retry:<n>", when)`` for each retry, n from 1."""
        return [
            (f"retry:{n}", failed_at + timedelta(days=days))
            for n, days in enumerate(self.retry_days, start=1)
        ]

    def reminders(self, due_at: datetime) -> list[tuple[str, datetime]]:
        return [(f"reminder:{days}", due_at + timedelta(days=days)) for days in self.reminder_days]

    def suspension(self, due_at: datetime) -> datetime | None:
        if self.suspend_after_days is None:
            return None
        return due_at + timedelta(days=self.suspend_after_days)


def parse_days(text: str) -> tuple[int, ...]:
    """``"3,5,7"`` -> ``(3, 5, 7)``; blanks ignored; a non-integer fails at startup."""
    return tuple(int(part) for part in text.split(",") if part.strip())
