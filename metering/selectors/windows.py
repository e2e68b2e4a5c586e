"""Half-open windows (hour, day, month) in a time zone, as UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from billingsite.errors import AppError

WINDOWS = ("hour", "day", "month")
MAX_WINDOWS = 2000
HOUR = timedelta(hours=1)


def floor_bucket(instant: datetime) -> datetime:
    """The start of the rollup bucket (``meter_sql.BUCKET``, 15 minutes) holding ``instant``."""
    utc = instant.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def is_bucket_aligned(instant: datetime) -> bool:
    return floor_bucket(instant) == instant


def _next_boundary(instant: datetime, window: str, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz)
    if window == "hour":
        floor = local.replace(minute=0, second=0, microsecond=0)
        return (floor.astimezone(UTC) + HOUR).astimezone(tz) if floor <= local else floor
    if window == "day":
        nxt = local.date() + timedelta(days=1)
    else:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        nxt = local.date().replace(year=year, month=month, day=1)
    return datetime.combine(nxt, time(0), tzinfo=tz)


def window_boundaries(
    start: datetime, end: datetime, window: str | None, tz: ZoneInfo
) -> list[datetime]:
    """[start, b1, ..., end]: window starts strictly inside the period, in UTC."""
    if start.tzinfo is None or end.tzinfo is None:
        raise AppError("validation_error", "start and end need a time zone offset.")
    if end <= start:
        raise AppError(
            "validation_error", "end must be after start.", details={"end": "Must be after start."}
        )
    bounds = [start.astimezone(UTC)]
    if window is not None:
        if window not in WINDOWS:
            raise AppError(
                "validation_error",
                f"window is one of {', '.join(WINDOWS)}.",
                details={"window": f"Choose one of {', '.join(WINDOWS)}."},
            )
        cursor = _next_boundary(start, window, tz)
        while cursor < end:
            bounds.append(cursor.astimezone(UTC))
            if len(bounds) > MAX_WINDOWS:
                raise AppError(
                    "too_many_windows",
                    f"At most {MAX_WINDOWS} windows; use a larger window.",
                    details={"max_windows": MAX_WINDOWS},
                )
            cursor = _next_boundary(cursor, window, tz)
    bounds.append(end.astimezone(UTC))
    return bounds


def edge_buckets(bounds: list[datetime]) -> list[datetime]:
    """Rollup buckets cut by a boundary (they straddle two windows or the period edge), so
    they are read from raw events instead. Empty for windows in any real time zone whose
    period starts and ends on a quarter hour."""
    return sorted({floor_bucket(b) for b in bounds if not is_bucket_aligned(b)})
