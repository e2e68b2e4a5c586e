"""Metering models: meters (versioned), usage events and their review queues, rollups."""

from metering.models.events import (
    EventConflict,
    RejectedEvent,
    ReviewStatus,
    UnattributedEvent,
    UsageEvent,
    UsageEventKey,
)
from metering.models.meters import Aggregation, Meter, MeterVersion
from metering.models.partitions import ArchivedMonth
from metering.models.rollups import HourlyRollup, QuarantinedRollup, RollupQueue, UniqueValue
from metering.models.sink import SinkBatch, SinkDeadLetter, SinkHeartbeat

__all__ = [
    "Aggregation",
    "ArchivedMonth",
    "EventConflict",
    "HourlyRollup",
    "Meter",
    "MeterVersion",
    "QuarantinedRollup",
    "RejectedEvent",
    "ReviewStatus",
    "RollupQueue",
    "SinkBatch",
    "SinkDeadLetter",
    "SinkHeartbeat",
    "UnattributedEvent",
    "UniqueValue",
    "UsageEvent",
    "UsageEventKey",
]
