"""Two ways to talk to the ClickHouse engine, one interface: ``chdb:<path>`` runs it inside this
process (the ``chdb`` wheel; tests, single-process deployments, benchmarks) and
``clickhouse://user:pass@host:port/db`` talks to a server with ``clickhouse-connect``.

Statements use ClickHouse's server-side parameters (``{name:Type}``), so no value is ever
quoted into SQL text; inserts carry an ``insert_deduplication_token``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

Row = tuple[Any, ...]


class Engine(Protocol):
    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None: ...

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Row], *, token: str
    ) -> None: ...


def ch_param(value: Any) -> Any:
    """A Python value as ClickHouse's parameter text understands it (datetimes in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (list, tuple)):
        return [ch_param(v) for v in value]
    return value


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    return str(value)


def chdb_param(value: Any) -> str:
    """A parameter as the text chdb passes to the engine (escaped like the HTTP interface's
    ``param_`` values: arrays as literals, scalars with TSV escapes)."""
    value = ch_param(value)
    if isinstance(value, list):
        return _quoted(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _decode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind.startswith("Nullable("):
        kind = kind[len("Nullable(") : -1]
    if kind.startswith("Decimal"):
        return Decimal(value)
    if kind.startswith("DateTime"):
        text = value if "." in value else value + ".000000"
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    if kind.startswith(("UInt", "Int")):
        return int(value)
    if kind.startswith("Array("):
        return [_decode(v, kind[len("Array(") : -1]) for v in value]
    return value


_LOCKS: dict[str, threading.RLock] = {}
_SESSIONS: dict[str, Any] = {}
_JSON_SETTINGS = (
    " SETTINGS output_format_json_quote_decimals = 1,"
    " output_format_json_quote_64bit_integers = 1, date_time_output_format = 'simple'"
)


class ChdbEngine:
    """The in-process engine. chdb allows one open session per process, so sessions are kept
    per path for the life of the process, and calls are serialized by a lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = _LOCKS.setdefault(path, threading.RLock())
        with self.lock:
            if path not in _SESSIONS:
                from chdb import session

                _SESSIONS[path] = session.Session(path)
            self.session = _SESSIONS[path]

    def _run(self, sql: str, params: dict[str, Any] | None, fmt: str) -> Any:
        bound = {k: chdb_param(v) for k, v in (params or {}).items()}
        with self.lock:
            return self.session.query(sql, fmt, params=bound or None)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        answer = json.loads(self._run(sql + _JSON_SETTINGS, params, "JSONCompact").bytes())
        kinds = [m["type"] for m in answer["meta"]]
        return [
            tuple(_decode(v, k) for v, k in zip(row, kinds, strict=True)) for row in answer["data"]
        ]

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._run(sql, params, "CSV")

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Row], *, token: str
    ) -> None:
        if not rows:
            return
        body = "\n".join(
            json.dumps(dict(zip(columns, (ch_param(v) for v in row), strict=True)), default=str)
            for row in rows
        )
        # ``token`` is a hex digest (see store._token): safe to place in the statement.
        self.command(
            f"INSERT INTO {table} SETTINGS insert_deduplication_token = '{token}',"
            " deduplicate_blocks_in_dependent_materialized_views = 1"
            f" FORMAT JSONEachRow\n{body}"
        )


class ServerEngine:
    """A ClickHouse server through ``clickhouse-connect`` (HTTP). Not exercised against a real
    server in this repository's tests (docs/scaling.md); the URL parsing is."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        self.options = server_options(url)
        self.client = clickhouse_connect.get_client(**self.options)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        bound = {k: ch_param(v) for k, v in (params or {}).items()}
        return [tuple(r) for r in self.client.query(sql, parameters=bound).result_rows]

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.client.command(sql, parameters={k: ch_param(v) for k, v in (params or {}).items()})

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Row], *, token: str
    ) -> None:
        if rows:
            self.client.insert(
                table,
                [list(r) for r in rows],
                column_names=list(columns),
                settings={
                    "insert_deduplication_token": token,
                    "deduplicate_blocks_in_dependent_materialized_views": 1,
                },
            )


def server_options(url: str) -> dict[str, Any]:
    """``clickhouse://user:pass@host:port/db`` -> clickhouse-connect keyword arguments."""
    parts = urlparse(url)
    if parts.scheme != "clickhouse" or not parts.hostname:
        raise ValueError("TALLY_EVENT_STORE: expected clickhouse://user:pass@host:port/db")
    return {
        "host": parts.hostname,
        "port": parts.port or 8123,
        "username": unquote(parts.username or "default"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/") or "default",
    }
