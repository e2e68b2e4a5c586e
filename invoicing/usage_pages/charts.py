"""Chart data as HTML tables: the table is the no-JavaScript fallback and the chart's source
(``static/usage/charts.js`` reads ``data-value`` cells and draws them with Chart.js)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from invoicing.usage_pages.presenters import number
from metering.selectors import UsageSeries
from metering.selectors.windows import window_boundaries


@dataclass
class ChartTable:
    caption: str
    unit: str
    columns: list[str]  # one per data set (a group value, or the meter)
    rows: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
    # (label, ISO start, [(raw value, display value) per column])
    kind: str = "bar"


def _label(series: UsageSeries, start: datetime) -> str:
    local = start.astimezone(ZoneInfo(series.tz))
    return f"{local:%b %d %H:00}" if series.window == "hour" else f"{local:%a %b %d}"


def series_table(series: UsageSeries, *, caption: str, unit: str, group: str = "") -> ChartTable:
    """One row per window; one column per group value (or a single column)."""
    columns: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    for point in series.points:
        column = str((point.group or {}).get(group, "")) if group else series.meter
        if group and point.group is not None and column not in columns:
            columns.append(column)
        cells[(point.start.isoformat(), column)] = "" if point.value is None else str(point.value)
    # Every window gets a row, also those without usage (grouped series omit them).
    bounds = window_boundaries(series.start, series.end, series.window, ZoneInfo(series.tz))
    starts = {start.isoformat(): start for start in bounds[:-1]}
    columns = sorted(columns) if group else [series.meter]
    table = ChartTable(caption=caption, unit=unit, columns=columns or [series.meter])
    for key, start in starts.items():
        values = []
        for column in table.columns:
            raw = cells.get((key, column), "0" if group else "")
            values.append((raw or "0", number(None) if raw == "" else number(Decimal(raw))))
        table.rows.append((_label(series, start), key, values))
    return table
