"""Metering writes. Import services from here: ``from metering.services import events_ingest``."""

from metering.ingest.service import IngestResult, events_ingest
from metering.services.attribution import events_attribute
from metering.services.meters import meter_create, meter_update, validate_definition
from metering.services.quarantine import QuarantineReplay, rollup_quarantine_replay
from metering.services.review import conflict_dismiss, rejected_replay
from metering.services.rollups import RollupStats, rollup_drain, rollup_run

__all__ = [
    "IngestResult",
    "QuarantineReplay",
    "RollupStats",
    "conflict_dismiss",
    "events_attribute",
    "events_ingest",
    "meter_create",
    "meter_update",
    "rejected_replay",
    "rollup_drain",
    "rollup_quarantine_replay",
    "rollup_run",
    "validate_definition",
]
