"""The ingest limits, read from settings (``METERING_*``) so they are stated in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class IngestLimits:
    max_events: int
    max_body_bytes: int
    max_decompressed_bytes: int
    max_future: timedelta
    max_age: timedelta
    max_properties_bytes: int
    max_id_length: int = 256
    max_type_length: int = 128
    max_customer_length: int = 128

    def as_dict(self) -> dict[str, int]:
        return {
            "max_events_per_request": self.max_events,
            "max_request_bytes": self.max_body_bytes,
            "max_decompressed_bytes": self.max_decompressed_bytes,
            "max_future_seconds": int(self.max_future.total_seconds()),
            "max_age_seconds": int(self.max_age.total_seconds()),
            "max_properties_bytes": self.max_properties_bytes,
            "max_id_length": self.max_id_length,
        }


def ingest_limits() -> IngestLimits:
    return IngestLimits(
        max_events=settings.METERING_MAX_EVENTS_PER_REQUEST,
        max_body_bytes=settings.METERING_MAX_REQUEST_BYTES,
        max_decompressed_bytes=settings.METERING_MAX_DECOMPRESSED_BYTES,
        max_future=timedelta(seconds=settings.METERING_MAX_FUTURE_SECONDS),
        max_age=timedelta(days=settings.METERING_MAX_EVENT_AGE_DAYS),
        max_properties_bytes=settings.METERING_MAX_PROPERTIES_BYTES,
    )
