"""The log's message format: one JSON document per (request, partition, chunk).

``{"v": 1, "ns": namespace, "at": received_at, "vendor": ..., "ev": [[id, customer, type,
timestamp-as-sent-or-null, properties_json, content_hash_hex], ...]}``. The sink rebuilds the
``ValidEvent`` the request validated (same id, content hash, timestamp), so the store sees
exactly what the direct path would have stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metering.ingest.wire import ValidEvent, parse_timestamp

VERSION = 1


@dataclass(frozen=True)
class LoggedBatch:
    namespace: str
    received_at: datetime
    vendor: str
    events: list[ValidEvent]


def encode(namespace: str, received_at: datetime, vendor: str, events: list[ValidEvent]) -> bytes:
    rows = [
        [
            e.event_id,
            e.customer_ref,
            e.type,
            e.raw.get("timestamp") if e.timestamp_given else None,
            e.properties_json,
            e.content_hash.hex(),
        ]
        for e in events
    ]
    doc = {"v": VERSION, "ns": namespace, "at": received_at.isoformat(), "vendor": vendor}
    return json.dumps({**doc, "ev": rows}, ensure_ascii=False, separators=(",", ":")).encode()


def msg_id(namespace: str, partition: int, events: list[ValidEvent]) -> str:
    """The same events re-sent (a client's retry) get the same id: JetStream drops the copy
    inside its duplicate window; after it, the store classifies them as duplicates."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{namespace}\x00{partition}".encode())
    for e in events:
        digest.update(b"\x00" + e.event_id.encode() + b"\x00" + e.content_hash)
    return digest.hexdigest()


def decode(data: bytes) -> LoggedBatch:
    doc = json.loads(data)
    if doc.get("v") != VERSION:
        raise ValueError(f"unknown event-log message version {doc.get('v')!r}")
    received_at = datetime.fromisoformat(doc["at"])
    events = []
    for index, (eid, customer, type_, ts_raw, props_json, digest) in enumerate(doc["ev"]):
        stamp = parse_timestamp(ts_raw) if ts_raw is not None else None
        raw: dict[str, Any] = {"id": eid, "customer": customer, "type": type_}
        if ts_raw is not None:
            raw["timestamp"] = ts_raw
        if props_json != "{}":
            raw["properties"] = json.loads(props_json)
        events.append(
            ValidEvent(
                index,
                eid,
                customer,
                type_,
                stamp or received_at,
                ts_raw is not None,
                props_json,
                bytes.fromhex(digest),
                raw,
            )
        )
    return LoggedBatch(doc["ns"], received_at, doc.get("vendor", ""), events)
