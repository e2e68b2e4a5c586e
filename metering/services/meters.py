"""Meters: create and version them.

Versioning rule (keeps invoiced usage stable): a meter's first version applies from the start
of time, so a new meter counts the events already stored. Every later change creates a new
version effective from an hour boundary that is not before the current hour (default: the
current hour); a second change starting at the same hour replaces the first (which never applied
to a past hour). Hours that have fully passed therefore keep the definition they were counted
with, and an invoiced period's usage never changes. Rollups are kept per version; creating a
version backfills its rollups from stored events under the definitions lock (see rollups).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billingsite.errors import AppError, Conflict
from metering.meter_sql import spans_for
from metering.models import Aggregation, Meter, MeterVersion
from metering.models.meters import meter_key_validator, meter_unit_validator
from metering.services.rollups import METER_DEFINITIONS_LOCK, apply_span

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
LABEL_FIELDS = ("name", "description", "unit")
DEFINITION_FIELDS = ("event_type", "aggregation", "value_property", "filters", "group_by")


def _invalid(details: dict[str, Any]) -> AppError:
    return AppError("validation_error", "The meter definition is not valid.", details=details)


def validate_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """Normalise and check a definition; raises AppError with per-field details."""
    errors: dict[str, Any] = {}
    aggregation = definition.get("aggregation")
    if aggregation not in Aggregation.values:
        errors["aggregation"] = f"Choose one of {', '.join(Aggregation.values)}."
    event_type = definition.get("event_type")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 128:
        errors["event_type"] = "A string of 1-128 characters."
    value_property = definition.get("value_property") or ""
    if aggregation == Aggregation.COUNT and value_property:
        errors["value_property"] = "count meters have no value property."
    elif (
        aggregation != Aggregation.COUNT
        and aggregation in Aggregation.values
        and not _is_path(value_property)
    ):
        errors["value_property"] = f"{aggregation} needs a property path, e.g. 'bytes'."
    filters = definition.get("filters") or []
    filter_error = _filter_error(filters)
    if filter_error:
        errors["filters"] = filter_error
    group_by = definition.get("group_by") or []
    if (
        not isinstance(group_by, list)
        or not all(_is_path(g) for g in group_by)
        or len(set(group_by)) != len(group_by)
        or len(group_by) > 5
    ):
        errors["group_by"] = "Up to 5 distinct property paths."
    if errors:
        raise _invalid(errors)
    return {
        "event_type": event_type,
        "aggregation": aggregation,
        "value_property": value_property,
        "filters": filters,
        "group_by": group_by,
    }


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200 and all(value.split("."))


def _filter_error(filters: Any) -> str | None:
    if not isinstance(filters, list) or len(filters) > 20:
        return "A list of up to 20 filters."
    for rule in filters:
        if not isinstance(rule, dict) or not _is_path(rule.get("property")):
            return 'Each filter needs a "property" path.'
        ops = set(rule) - {"property"}
        if len(ops) != 1 or not ops <= {"equals", "in", "exists"}:
            return 'Each filter has exactly one of "equals", "in" or "exists".'
        if "in" in rule and (not isinstance(rule["in"], list) or not rule["in"]):
            return '"in" needs a non-empty list.'
        if "exists" in rule and not isinstance(rule["exists"], bool):
            return '"exists" is true or false.'
    return None


def _clean_unit(unit: Any) -> str:
    """The meter's unit label, checked like the model field; raises AppError."""
    if not isinstance(unit, str):
        raise _invalid({"unit": "A short text such as requests, GB or tokens."})
    try:
        meter_unit_validator(unit)
    except ValidationError as exc:
        raise _invalid({"unit": exc.messages}) from exc
    return unit


def _lock_definitions() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [METER_DEFINITIONS_LOCK])


@transaction.atomic
def meter_create(
    *,
    key: str,
    name: str,
    description: str = "",
    unit: str = "",
    created_by: str = "",
    **definition: Any,
) -> Meter:
    """Create a meter and its first version, and count the events already stored."""
    try:
        meter_key_validator(key)
    except ValidationError as exc:
        raise _invalid({"key": exc.messages}) from exc
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise _invalid({"name": "A name of 1-200 characters."})
    unit = _clean_unit(unit)
    clean = validate_definition(definition)
    _lock_definitions()
    try:
        with transaction.atomic():
            meter = Meter.objects.create(key=key, name=name, description=description, unit=unit)
    except IntegrityError as exc:
        raise Conflict("meter_exists", f"A meter with key {key!r} already exists.") from exc
    version = MeterVersion.objects.create(
        meter=meter, version=1, effective_from=BEGINNING, created_by=created_by, **clean
    )
    _backfill(version)
    return meter


@transaction.atomic
def meter_update(
    *, meter: Meter, effective_from: datetime | None = None, created_by: str = "", **changes: Any
) -> MeterVersion | None:
    """Rename or re-define a meter. A definition change makes a new version (see module doc);
    returns it, or None when only the labels (name, description, unit) changed. The unit is a
    label of the meter, not of a version: it is not versioned."""
    unknown = set(changes) - {*LABEL_FIELDS, *DEFINITION_FIELDS}
    if unknown:
        raise _invalid({f: "Not an editable field." for f in sorted(unknown)})
    _lock_definitions()
    meter = Meter.objects.select_for_update().get(pk=meter.pk)
    if "unit" in changes:
        changes["unit"] = _clean_unit(changes["unit"])
    for attr in LABEL_FIELDS:
        if attr in changes:
            setattr(meter, attr, changes.pop(attr))
    meter.save()
    if not changes:
        return None
    current = meter.versions.order_by("-effective_from").first()
    assert current is not None
    proposed = {f: getattr(current, f) for f in DEFINITION_FIELDS} | changes
    clean = validate_definition(proposed)
    if clean == {f: getattr(current, f) for f in DEFINITION_FIELDS}:
        return None
    start = version_start(effective_from)
    if start < current.effective_from:
        raise _invalid({"effective_from": "Must not be before the latest version's start."})
    if start == current.effective_from:
        # A second change within the same (current or future) hour: the version it replaces
        # never applied to an hour that has passed, so it is removed with its rollups.
        current.delete()
        current = meter.versions.order_by("-effective_from").first()
        assert current is not None  # version 1 starts in 1970, never at a current hour
    number = meter.versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = MeterVersion.objects.create(
        meter=meter,
        version=number + 1,
        effective_from=start,
        created_by=created_by,
        **clean,
    )
    _retire_after(current, start)
    _backfill(version)
    return version


def version_start(requested: datetime | None) -> datetime:
    current_hour = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if requested is None:
        return current_hour
    if requested.tzinfo is None:
        raise _invalid({"effective_from": "Give a time zone offset."})
    requested = requested.astimezone(UTC)
    if requested != requested.replace(minute=0, second=0, microsecond=0):
        raise _invalid({"effective_from": "Must be an hour boundary (minutes and seconds 0)."})
    if requested < current_hour:
        raise _invalid(
            {
                "effective_from": "Must not be before the current hour: past hours "
                "may already be invoiced.",
                "earliest": current_hour.isoformat(),
            }
        )
    return requested


def _retire_after(previous: MeterVersion, start: datetime) -> None:
    """The previous version stops counting at ``start``: drop its rollups from there on."""
    with connection.cursor() as cursor:
        for table in ("metering_hourlyrollup", "metering_uniquevalue"):
            cursor.execute(
                f"DELETE FROM {table} WHERE meter_version_id = %s AND hour >= %s",  # noqa: S608
                [previous.pk, start],
            )


def _backfill(version: MeterVersion) -> None:
    """Count stored events for a new version (caller holds the definitions lock)."""
    spans = spans_for(list(MeterVersion.objects.filter(meter_id=version.meter_id)))
    span = next(s for s in spans if s.version.pk == version.pk)
    with connection.cursor() as cursor:
        apply_span(cursor, span, source="backfill")
