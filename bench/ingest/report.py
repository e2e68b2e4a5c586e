"""Write the ingest section of docs/benchmarks.md (other sections of the file are kept)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

START, END = "<!-- ingest-benchmark:start -->", "<!-- ingest-benchmark:end -->"
TWO_CORES = "(2 cores)"


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def _scenario_rows(scenarios: list[Any], cores: str) -> list[str]:
    rows = [
        "| scenario | events/s durably committed | p50 latency | p99 latency | "
        "max rollup lag | rollups caught up after | machine CPU busy | stored = accepted |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in scenarios:
        notes = []
        if s.errors:
            notes.append(f"errors {s.errors}")
        if s.ran_out:
            notes.append("a client ran out of prepared bodies")
        check = "yes" if s.stored_delta == s.accepted else f"NO ({s.stored_delta} vs {s.accepted})"
        rows.append(
            f"| {s.name}, {s.clients} clients | **{s.events_per_s:,.0f}** {cores} "
            f"| {s.p50_ms:.0f} ms | {s.p99_ms:.0f} ms | {s.max_lag_s:.1f} s "
            f"| {_fmt(s.catch_up_s, ' s', 1)} | {s.cpu_busy_pct:.0f}% "
            f"| {check}{'; ' + '; '.join(notes) if notes else ''} |"
        )
    return rows


def _query_rows(query: dict[str, Any] | None, cores: str) -> list[str]:
    if not query:
        return ["Usage-query benchmark not run (or failed; see the console output)."]
    sizes = query["sizes"]
    rows = [
        f"Dataset: **{query['events']:,} stored events** for {query['customers']} customers "
        f"over 30 days ({sizes['metering_hourlyrollup']:,} hourly rollup rows, "
        f"{sizes['metering_uniquevalue']:,} hourly distinct-value rows, database "
        f"{sizes['database_bytes'] / 2**30:.1f} GiB). Query: `usage_series` for one random "
        f"customer, the 30 whole local days before its last local midnight, daily windows in "
        f"its time zone (UTC, America/New_York or Asia/Kolkata; Kolkata's :30 offset makes "
        f"every day boundary cut an hour, and those 31 hours are read from raw events instead "
        f"of rollups), {query['samples_per_meter']} samples per meter, in-process (no HTTP), "
        f"pages mostly not in PostgreSQL's 128 MB shared buffers.",
        "",
        "| meter | p50 | p95 | p99 | p95 UTC / New York / Kolkata |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for key, lat in query["latency"].items():
        zones = " / ".join(_fmt(v, " ms", 1) for v in lat["by_zone_p95_ms"].values())
        rows.append(
            f"| {key} | {lat['p50_ms']:.1f} ms | **{lat['p95_ms']:.1f} ms** {cores} "
            f"| {lat['p99_ms']:.1f} ms | {zones} |"
        )
    if query.get("built"):
        built = query["built"]
        rows.append("")
        when = (
            f"when it was built ({built.get('built_at', '?')}; this run reused it)"
            if built.get("reused")
            else "in this run"
        )
        rows.append(
            f"Building the dataset took {built['generate_s']:.0f} s (SQL "
            f"generate_series) plus {built['backfill_s']:.0f} s for the meters' "
            f"backfill {cores}, {when}; later runs reuse it (`--rebuild-query-data` "
            f"to start over)."
        )
    return rows


def _targets(scenarios: list[Any], query: dict[str, Any] | None, cores: str) -> list[str]:
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    by_batch: dict[int, float] = {}
    lag_ok = all(s.max_lag_s < 10 for s in scenarios)
    for s in scenarios:
        by_batch[s.batch] = min(by_batch.get(s.batch, float("inf")), s.events_per_s)
    lines = ["Targets of issue 3, this run " + cores + ":", ""]
    if 1000 in by_batch:
        lines.append(
            f"- batches of 1,000: >= 20,000 events/s with rollup lag under 10 s: "
            f"{mark(by_batch[1000] >= 20_000 and lag_ok)} (slowest scenario "
            f"{by_batch[1000]:,.0f}/s)"
        )
    if 100 in by_batch:
        lines.append(
            f"- batches of 100: >= 8,000 events/s: {mark(by_batch[100] >= 8_000)} "
            f"(slowest scenario {by_batch[100]:,.0f}/s)"
        )
    if query:
        worst = max(lat["p95_ms"] for lat in query["latency"].values())
        lines.append(
            f"- usage query for one customer-month over {query['events']:,} events, "
            f"p95 under 50 ms: {mark(worst < 50)} (worst meter p95 {worst:.1f} ms)"
        )
    return lines


HISTORY_HEAD = "| run (UTC) | load avg before / after HTTP runs | batch 1000 (0% / 20% dup) | "
HISTORY_RULE = "| --- | --- | ---: | ---: | ---: |"


def _history(existing: str, row: str) -> list[str]:
    """Earlier runs' one-line summaries (kept from the previous file) plus this run's."""
    old = [
        line
        for line in existing.partition(START)[2].partition(END)[0].splitlines()
        if line.startswith("| 20")
    ]
    return [
        "### Run history",
        "",
        "Every run of the command appends a line here; the tables above are the latest run. "
        "The machine is shared with other engineers' test suites and benchmarks, so figures "
        "vary with the load average.",
        "",
        HISTORY_HEAD + "batch 100 (0% / 20% dup) | query p95 (worst meter) |",
        HISTORY_RULE,
        *old[-19:],
        row,
    ]


def _history_row(
    host: dict[str, str],
    load_during: str,
    scenarios: list[Any],
    query: dict[str, Any] | None,
    quick: bool,
) -> str:
    rate = {(s.batch, s.duplicates): f"{s.events_per_s:,.0f}" for s in scenarios}
    worst = (
        f"{max(lat['p95_ms'] for lat in query['latency'].values()):.0f} ms "
        f"({query['events'] / 1e6:.0f}M events)"
        if query
        else "n/a"
    )
    return (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M}{' (quick)' if quick else ''} "
        f"| {host['load_before'].split()[0]} / {load_during.split()[0]} "
        f"| {rate.get((1000, 0.0), 'n/a')} / {rate.get((1000, 0.2), 'n/a')} "
        f"| {rate.get((100, 0.0), 'n/a')} / {rate.get((100, 0.2), 'n/a')} | {worst} |"
    )


def write(
    path: str,
    *,
    command: str,
    host: dict[str, str],
    load_during: str,
    scenarios: list[Any],
    ceiling: Any,
    query: dict[str, Any] | None,
    duration: float,
    web_workers: int,
    rollup_workers: int,
    total_s: float,
    quick: bool = False,
) -> None:
    cores = f"({host['cores']} cores)"
    target = Path(path)
    existing = target.read_text() if target.exists() else "# Benchmarks\n\n"
    history = _history(existing, _history_row(host, load_during, scenarios, query, quick))
    lines = [
        START,
        "## Ingest (issue 3)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command.strip()}` "
        f"(whole run {total_s / 60:.1f} min).",
        "",
        f"**Machine: {host['cores']} cores** ({host['cpu_model']}), {host['memory_gb']} GB "
        f"memory; Python {host['python']}; PostgreSQL {host['postgres']} (embedded, "
        f"{host['pg_durability']}, {host['pg_memory']}). Server, PostgreSQL, Celery worker and "
        f"the load clients all share the {host['cores']} cores. Load average before the run "
        f"{host['load_before']}, at the end of the HTTP runs {load_during} (other work on the "
        f"machine competes with the benchmark when these exceed the core count).",
        "",
        f"Setup: gunicorn with {web_workers} sync workers, one Celery worker "
        f"(concurrency {rollup_workers}) on the `rollups` queue, 3 meters on the event type "
        f"(count; sum grouped by region; unique_count), 200 customers; each scenario runs "
        f"{duration:.0f} s from separate client processes (bodies prepared before the clock "
        f"starts) over loopback HTTP. *events/s* counts events acknowledged as accepted or "
        f"duplicate, i.e. committed before the response; the last column checks that the rows "
        f"stored equal the accepted count. Duplicates repeat events of the client's previous "
        f"batch byte for byte.",
        "",
        *_targets(scenarios, query, cores),
        "",
        *_scenario_rows(scenarios, cores),
        "",
        "### Raw PostgreSQL ceiling (same rows, one client, 1,000 rows per committed transaction)",
        "",
        "| path | events/s |",
        "| --- | ---: |",
        f"| COPY into a copy of the events table (same indexes, no dedup) | "
        f"**{ceiling.copy_per_s:,.0f}** {cores} |",
        f"| the ingest service's SQL (COPY to staging + INSERT … ON CONFLICT DO NOTHING "
        f"RETURNING + rollup queue row), no HTTP, no validation | "
        f"{ceiling.service_sql_per_s:,.0f} {cores} |",
        f"| `events_ingest` in-process (validation + SQL), one process | "
        f"{ceiling.service_per_s:,.0f} {cores} |",
        "",
        "### Usage query latency",
        "",
        *_query_rows(query, cores),
        "",
        *history,
        "",
        END,
    ]
    section = "\n".join(lines) + "\n"
    if START in existing and END in existing:
        head, _, rest = existing.partition(START)
        _, _, tail = rest.partition(END)
        text = head + section.rstrip("\n") + tail
    else:
        text = existing.rstrip("\n") + "\n\n" + section
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
