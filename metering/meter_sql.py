"""SQL fragments for one meter version, shared by the rollup worker and the usage selector.

Both paths aggregate events with exactly these expressions, so a rollup and a read from raw
events can never disagree about which events a meter selects or what value they carry.
Every fragment reads the events table under the alias ``e`` and returns ``(sql, params)``.

Semantics:
- filters: ``equals`` (JSON equality), ``in`` (any of), ``exists`` (true/false).
- value: ``count`` counts events; other aggregations read ``value_property`` as a number (a JSON
  number or a numeric string); events without a numeric value are ignored by the meter.
  ``unique_count`` reads the value as text.
- group values: a JSON array of the ``group_by`` properties (JSON null when absent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from metering.models import Aggregation, MeterVersion

FAR_FUTURE = datetime.fromisoformat("9999-01-01T00:00:00+00:00")

# Rollup bucket width. 15 minutes divides every real UTC offset (+5:30, +5:45, -3:30...), so
# hour, day and month windows in any time zone start on a bucket boundary and are read from
# rollups only; raw events are read only for periods that start or end between buckets.
BUCKET = timedelta(minutes=15)


def bucket_sql(column: str) -> str:
    """The start of the rollup bucket holding ``column`` (a timestamptz expression)."""
    return f"date_bin('15 minutes', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


def group_key(value: Any) -> str:
    """A stable text key for a group-values array (Django hands jsonb back as text)."""
    values = json.loads(value) if isinstance(value, str) else value
    return json.dumps(values)


def path(dotted: str) -> list[str]:
    return [part for part in dotted.split(".") if part]


@dataclass(frozen=True)
class VersionSpan:
    """A meter version and the half-open time range it applies to."""

    version: MeterVersion
    start: datetime
    end: datetime

    @property
    def aggregation(self) -> str:
        return self.version.aggregation


def spans_for(versions: list[MeterVersion]) -> list[VersionSpan]:
    """Versions of one meter (any order) -> consecutive spans."""
    ordered = sorted(versions, key=lambda v: v.effective_from)
    return [
        VersionSpan(
            v,
            v.effective_from,
            ordered[i + 1].effective_from if i + 1 < len(ordered) else FAR_FUTURE,
        )
        for i, v in enumerate(ordered)
    ]


def filter_sql(version: MeterVersion) -> tuple[str, list[Any]]:
    """``e.type = … AND <property filters> AND <value present>``."""
    clauses = ["e.type = %s"]
    params: list[Any] = [version.event_type]
    for rule in version.filters or []:
        prop = path(rule["property"])
        if "equals" in rule:
            clauses.append("e.properties #> %s = %s::jsonb")
            params += [prop, json.dumps(rule["equals"])]
        elif "in" in rule:
            clauses.append("e.properties #> %s = ANY(%s::jsonb[])")
            params += [prop, [json.dumps(v) for v in rule["in"]]]
        elif rule.get("exists", True):
            clauses.append("e.properties #> %s IS NOT NULL")
            params.append(prop)
        else:
            clauses.append("e.properties #> %s IS NULL")
            params.append(prop)
    value, value_params = value_sql(version)
    if version.aggregation != Aggregation.COUNT:
        clauses.append(f"{value} IS NOT NULL")
        params += value_params
    return " AND ".join(clauses), params


def value_sql(version: MeterVersion) -> tuple[str, list[Any]]:
    if version.aggregation == Aggregation.COUNT:
        return "1::numeric", []
    if version.aggregation == Aggregation.UNIQUE_COUNT:
        return "(e.properties #>> %s)", [path(version.value_property)]
    return "metering_to_numeric(e.properties #> %s)", [path(version.value_property)]


def group_sql(version: MeterVersion) -> tuple[str, list[Any]]:
    dims = version.group_by or []
    if not dims:
        return "'[]'::jsonb", []
    placeholders = ", ".join(["coalesce(e.properties #> %s, 'null'::jsonb)"] * len(dims))
    return f"jsonb_build_array({placeholders})", [path(d) for d in dims]


def project_group_sql(version: MeterVersion, dims: list[str], column: str) -> str:
    """Re-shape a stored group array to the requested ``dims`` (a subset, in query order)."""
    if not dims:
        return "'[]'::jsonb"
    own = list(version.group_by or [])
    parts = [f"{column} -> {own.index(d)}" if d in own else "'null'::jsonb" for d in dims]
    return f"jsonb_build_array({', '.join(parts)})"
