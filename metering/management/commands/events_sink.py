"""``manage.py events_sink``: consume the event log (TALLY_EVENT_LOG) into the event store.

Run any number of them, on any machines: each partition is one durable JetStream consumer,
shared by the sinks that serve it, and applied by one of them at a time (advisory lock).
SIGTERM/SIGINT finish the batch in hand (applied and acknowledged) and exit 0.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from metering import eventlog
from metering.eventlog.client import EventLogUnavailable
from metering.eventlog.sink import PartitionSink


class Command(BaseCommand):
    help = "Consume the replicated event log into the event store (see docs/scaling.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--partitions", default="", help="e.g. 0,1 (default: all)")
        parser.add_argument("--batch", type=int, default=200, help="messages per fetch")
        parser.add_argument("--wait", type=float, default=0.5, help="fetch wait per partition")
        parser.add_argument("--max-idle", type=float, default=0, help="exit after N idle s")
        parser.add_argument(
            "--kill-before-ack",
            action="store_true",
            help="fault injection (tests): SIGKILL itself after the first commit, before acking",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not eventlog.event_log_configured():
            raise CommandError("TALLY_EVENT_LOG is not set: there is no log to consume.")
        wanted = options["partitions"]
        parts = (
            [int(p) for p in wanted.split(",") if p.strip()]
            if wanted
            else list(range(eventlog.partitions()))
        )
        sinks = [PartitionSink(p, batch=options["batch"]) for p in parts]
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        before_ack = _suicide if options["kill_before_ack"] else None
        self.stdout.write(f"events_sink: partitions {parts} of {eventlog.stream_name()}")
        self.stdout.flush()
        self._loop(sinks, options, stopping, before_ack)
        self.stdout.write("events_sink: stopped")

    def _loop(
        self, sinks: list[PartitionSink], options: Any, stopping: list[bool], hook: Any
    ) -> None:
        total, window, last_report, idle_since = 0, 0, time.monotonic(), time.monotonic()
        while not stopping:
            busy = False
            for sink in sinks:
                if stopping:
                    break
                try:
                    applied = sink.step(options["wait"], before_ack=hook)
                except EventLogUnavailable as exc:
                    self.stderr.write(f"partition {sink.partition}: log unavailable ({exc})")
                    time.sleep(0.5)
                    continue
                busy = busy or bool(applied.messages or applied.skipped)
                window += applied.events
            now = time.monotonic()
            if busy:
                idle_since = now
            elif options["max_idle"] and now - idle_since > options["max_idle"]:
                break
            if now - last_report >= 5:
                total += window
                backlog = sum(s.pending for s in sinks)
                rate = window / (now - last_report)
                self.stdout.write(
                    f"events_sink: {total} events applied ({rate:.0f}/s), backlog {backlog} msgs"
                )
                self.stdout.flush()
                window, last_report = 0, now


def _suicide() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
