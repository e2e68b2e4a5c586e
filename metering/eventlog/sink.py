"""The sink: a pull consumer per partition that writes logged events through the event store.

Exactly once, whatever fails (docs/scaling.md):
- Every batch is applied in one PostgreSQL transaction that takes the partition's advisory
  lock (one writer per partition at a time), skips the stream sequences some earlier batch
  already applied (``SinkBatch``), classifies and stores the rest with the direct path's own
  code (``events_ingest``'s ``_store``: attribution, duplicate vs conflict, EventConflict rows,
  rollup queue, late flags downstream) through ``event_store()``, and records the batch token.
- A partition is applied in log order: earlier messages still un-acked (their sink died) are
  read from the stream and applied before a newer batch (``PartitionSink.step``).
- Acks go to JetStream only after that commit. A sink killed in between gets the batch again
  (after ``TALLY_EVENT_LOG_ACK_WAIT_SECONDS``) and acknowledges it without applying anything.
- The store's own unique key on (namespace, event id) stays the last guard: a re-published
  event (a client's retry after JetStream's duplicate window) is classified ``duplicate``.

Dead letters: when a batch fails, its messages are applied one by one so one bad message does
not hold the others back. A message that cannot be decoded is parked at once (it never will
be); one whose store fails is left unacknowledged (redelivered after the ack wait) until its
``TALLY_EVENT_LOG_MAX_DELIVERIES``-th delivery, then parked. Parked means a ``SinkDeadLetter``
row (bytes, reason, deliveries) and an ack. A database that does not answer parks nothing:
the sink stops and the messages wait in the log.
"""

from __future__ import annotations

import logging
import socket
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from billingsite.errors import database_unavailable
from metering import eventlog, metrics
from metering.eventlog import wire
from metering.eventlog.client import LogClient, log_client
from metering.kicks import rollup_kick
from metering.models import SinkBatch, SinkDeadLetter, SinkHeartbeat

logger = logging.getLogger(__name__)


@dataclass
class Applied:
    messages: int = 0
    skipped: int = 0  # delivered again after an earlier sink applied them
    events: int = 0
    counts: Counter[str] | None = None
    parked: int = 0  # messages moved to SinkDeadLetter (and acknowledged)
    retrying: int = 0  # messages left unacknowledged after a failure, to be delivered again

    def add(self, other: Applied) -> None:
        self.messages += other.messages
        self.skipped += other.skipped
        self.events += other.events
        self.counts.update(other.counts or {})  # type: ignore[union-attr]


def apply_messages(stream: str, partition: int, messages: list[tuple[int, bytes]]) -> Applied:
    """Apply log messages (stream sequence, payload) once; see the module docstring."""
    from metering.ingest.service import _store

    result = Applied(counts=Counter())
    if not messages:
        return result
    seqs = sorted(seq for seq, _ in messages)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [zlib.crc32(stream.encode()) - 2**31, partition],
            )
            cursor.execute(
                "SELECT DISTINCT unnest(seqs) FROM metering_sinkbatch WHERE stream = %s"
                " AND partition = %s AND last_seq >= %s AND first_seq <= %s",
                [stream, partition, seqs[0], seqs[-1]],
            )
            done = {row[0] for row in cursor.fetchall()}
        todo = sorted((seq, data) for seq, data in messages if seq not in done)
        result.skipped = len(messages) - len(todo)
        if not todo:
            return result
        inserted = False
        for seq, data in todo:
            batch = wire.decode(data)
            stored = _store(
                None,
                list(batch.events),
                batch.received_at,
                batch.namespace,
                store_rejections=False,
                vendor=batch.vendor,
                batch_token=f"{stream}:{seq}",
            )
            result.counts.update(stored.counts)  # type: ignore[union-attr]
            result.events += len(batch.events)
            inserted = inserted or bool(stored.inserted_pks)
        done_seqs = [seq for seq, _ in todo]
        SinkBatch.objects.create(
            token=f"{stream}:{partition}:{done_seqs[0]}-{done_seqs[-1]}",
            stream=stream,
            partition=partition,
            first_seq=done_seqs[0],
            last_seq=done_seqs[-1],
            seqs=done_seqs,
            events=result.events,
            applied_at=timezone.now(),
        )
        if inserted:
            transaction.on_commit(rollup_kick)
    result.messages = len(todo)
    metrics.count_outcomes(dict(result.counts))  # type: ignore[arg-type]
    return result


class PartitionSink:
    """One partition's durable pull consumer, driven from a sync loop (``step``)."""

    def __init__(self, partition: int, *, batch: int, client: LogClient | None = None) -> None:
        self.partition = partition
        self.batch = batch
        self.client = client or log_client()
        self.stream = eventlog.stream_name()
        self._sub: Any = None
        self._last_info = 0.0
        self.pending = 0

    async def _subscription(self) -> Any:
        if self._sub is None:
            js = await self.client.js()
            config = api.ConsumerConfig(
                durable_name=eventlog.consumer_name(self.partition),
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=float(settings.TALLY_EVENT_LOG_ACK_WAIT_SECONDS),
                max_ack_pending=max(1000, self.batch * 4),
                deliver_policy=api.DeliverPolicy.ALL,
                filter_subject=eventlog.subject(self.partition),
            )
            self._sub = await js.pull_subscribe(
                eventlog.subject(self.partition),
                durable=eventlog.consumer_name(self.partition),
                stream=self.stream,
                config=config,
            )
        return self._sub

    async def _fetch(self, wait: float) -> list[Any]:
        sub = await self._subscription()
        try:
            return list(await sub.fetch(self.batch, timeout=wait))
        except (TimeoutError, NatsTimeout):
            return []

    async def _ack(self, msgs: list[Any]) -> None:
        for msg in msgs:
            await msg.ack()
        await self.client._nc.flush(timeout=5)  # type: ignore[union-attr]

    def fetch(self, wait: float = 1.0) -> list[Any]:
        return self.client.run(self._fetch(wait), timeout=wait + 5)

    def ack(self, msgs: list[Any]) -> None:
        self.client.run(self._ack(msgs))

    async def _earlier(self, first_seq: int) -> list[tuple[int, bytes]]:
        """This partition's messages before ``first_seq`` that the consumer has not seen
        acknowledged: delivered to a sink that died (or is slow), due for redelivery after
        ``ack_wait``. Read from the stream (it keeps every message for a week), from the
        consumer's ack floor, next message by subject, one request each."""
        sub = await self._subscription()
        js = await self.client.js()
        seq = int((await sub.consumer_info()).ack_floor.stream_seq) + 1
        found: list[tuple[int, bytes]] = []
        while seq < first_seq:
            try:
                msg = await js.get_msg(
                    self.stream, seq=seq, subject=eventlog.subject(self.partition), next=True
                )
            except NotFoundError:
                break
            if msg.seq is None or msg.seq >= first_seq:
                break
            found.append((int(msg.seq), msg.data or b""))
            seq = int(msg.seq) + 1
        return found

    def in_order(self, msgs: list[Any]) -> list[tuple[int, bytes]]:
        """(stream sequence, payload) of ``msgs`` preceded by the partition's earlier
        messages not yet acknowledged (see ``step``)."""
        data = [(m.metadata.sequence.stream, m.data) for m in msgs]
        if not data:
            return data
        return self.client.run(self._earlier(min(seq for seq, _ in data))) + data

    def step(self, wait: float = 1.0, *, before_ack: Any = None) -> Applied:
        """Fetch up to ``batch`` messages, apply them in log order, then acknowledge them.

        Order is the log's, whatever the delivery order: JetStream delivers new messages
        while earlier ones wait for redelivery (their sink died before acking), so the
        earlier ones are read from the stream and applied first, in the same transaction
        (their later redelivery is recognised and skipped). Without this, a sink crash let a
        later send of an id be stored and the first one become the conflict. A failing batch
        is applied one by one, parking what cannot be applied (see the module docstring)."""
        msgs = self.fetch(wait)
        done = msgs
        try:
            applied = apply_messages(self.stream, self.partition, self.in_order(msgs))
        except Exception as exc:
            if not msgs or database_unavailable(exc):
                raise
            applied, done = self._one_by_one(msgs)
        if done and before_ack is not None:
            before_ack()
        if done:
            self.ack(done)
        self.heartbeat(msgs[-1].metadata.sequence.stream if msgs else None)
        return applied

    def _one_by_one(self, msgs: list[Any]) -> tuple[Applied, list[Any]]:
        """Apply each message on its own; the ones to acknowledge (applied or parked)."""
        total, done = Applied(counts=Counter()), []
        limit = int(settings.TALLY_EVENT_LOG_MAX_DELIVERIES)
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            try:
                total.add(apply_messages(self.stream, self.partition, [(seq, msg.data)]))
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                deliveries = int(msg.metadata.num_delivered or 1)
                undecodable = _undecodable(msg.data)
                if undecodable is None and deliveries < limit:
                    total.retrying += 1
                    logger.warning(
                        "event-log message %s:%s failed (delivery %s of %s): %s",
                        self.stream,
                        seq,
                        deliveries,
                        limit,
                        exc,
                        extra={"event": "eventlog_message_failed"},
                    )
                    continue
                reason = undecodable or f"store failed on delivery {deliveries}: {_text(exc)}"
                park(self.stream, self.partition, seq, deliveries, reason, msg.data)
                total.parked += 1
            done.append(msg)
        return total, done

    def heartbeat(self, last_seq: int | None) -> None:
        """At most every 2 s per partition (an idle sink fetches twice a second)."""
        now = time.monotonic()
        if now - self._last_info > 2.0:
            self._last_info = now
            try:
                info = self.client.run(self._info(), timeout=2)
                self.pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            except Exception:  # noqa: S110  (heartbeat without a fresh backlog figure)
                pass
        else:
            return
        fields: dict[str, Any] = {"beat_at": timezone.now(), "pending": self.pending}
        fields["host"] = socket.gethostname()[:200]
        if last_seq is not None:
            fields["last_seq"] = last_seq
        SinkHeartbeat.objects.update_or_create(
            stream=self.stream, partition=self.partition, defaults=fields
        )

    async def _info(self) -> Any:
        sub = await self._subscription()
        return await sub.consumer_info()


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _undecodable(data: bytes) -> str | None:
    """Why the message cannot be decoded, or None when it can (so storing it failed)."""
    try:
        wire.decode(data)
    except Exception as exc:
        return f"undecodable: {_text(exc)}"
    return None


def park(stream: str, partition: int, seq: int, deliveries: int, reason: str, data: bytes) -> None:
    """Keep the message as a dead letter (once per stream sequence; never the payload in logs)."""
    SinkDeadLetter.objects.get_or_create(
        stream=stream,
        stream_seq=seq,
        defaults={
            "partition": partition,
            "deliveries": deliveries,
            "reason": reason,
            "payload": bytes(data),
            "parked_at": timezone.now(),
        },
    )
    logger.error(
        "event-log message %s:%s parked as a dead letter after %s delivery(ies): %s",
        stream,
        seq,
        deliveries,
        reason,
        extra={"event": "eventlog_dead_letter", "partition": partition},
    )
