"""The soak: a mixed load for a bounded time against the reliability stack — ingest with 20%
duplicates, usage queries (API), usage pages (signed links), webhook deliveries (Stripe sends
them for every invoice it charges and refund it makes), billing runs for new contracts, and
refunds — reporting throughput, latency percentiles, errors, memory of each process, load
average, and ending with quiescence, exact counts and check_invariants."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.reliability import checks, memory
from bench.reliability import world as world_module
from bench.reliability.load import Ingester, OpStats, Poller, stop_all
from bench.reliability.scenarios import quiesce
from bench.reliability.stack import Stack, log

TICK = 10.0


def _usage_paths(world: world_module.World) -> Any:
    def pick(rng: Any) -> str:
        customer = rng.choice(world.customers)
        window = rng.choice(("day", "hour"))
        return f"/api/v1/customers/{customer}/usage?meter=api_calls&window={window}"

    return pick


def _page_paths(tokens: list[str]) -> Any:
    return lambda rng: f"/usage/l/{rng.choice(tokens)}/"


def _tokens(world: world_module.World, n: int) -> list[str]:
    from accounts.models import Customer
    from accounts.portal.services import usage_link_create

    customers = Customer.objects.filter(external_id__in=world.customers[:n])
    return [usage_link_create(customer=c, lifetime=timedelta(days=1)).token for c in customers]


def _new_customers(stack: Stack, world: world_module.World, n: int) -> None:
    """Customers joining during the soak: created, synced to Stripe, given a card, put on a
    contract from last month (so the next billing run bills them)."""
    from accounts.services import customer_create

    ids = [f"rel-soak-{uuid.uuid4().hex[:6]}-{k}" for k in range(n)]
    for external_id in ids:
        customer_create(external_id=external_id, name=external_id, email=f"{external_id}@x.test")
    world.customers += ids


def _onboard_synced(stack: Stack, pending: list[str]) -> list[str]:
    """Give cards and contracts to the new customers whose Stripe sync finished; the rest."""
    from accounts.models import Customer

    synced = list(
        Customer.objects.filter(external_id__in=pending)
        .exclude(stripe_customer_id="")
        .values_list("external_id", flat=True)
    )
    if synced:
        world_module.attach_cards(stack, synced)
        today = datetime.now(UTC).date()
        start = (today.replace(day=1) - timedelta(days=40)).replace(day=1)  # a finalized period
        world_module.contracts_create(start=start, customer_ids=synced)
    return [e for e in pending if e not in synced]


def _refund_one(done: set[int]) -> bool:
    from disputes.services.refunds import refund_request
    from invoicing.models import Payment

    payment = (
        Payment.objects.filter(status="succeeded", amount_refunded=0)
        .exclude(pk__in=done)
        .order_by("?")
        .first()
    )
    if payment is None:
        return False
    done.add(payment.pk)
    refund_request(
        payment=payment, reason="requested_by_customer", actor=None, amount=Decimal("1.00")
    )
    return True


class Actions:
    """The periodic business actions of the soak (run from the main loop every tick)."""

    def __init__(self, stack: Stack, world: world_module.World) -> None:
        self.stack = stack
        self.world = world
        self.pending: list[str] = []
        self.refunded: set[int] = set()
        self.refunds = 0
        self.billing_runs = 0
        self.errors: dict[str, int] = {}
        self.last = {"join": 0.0, "bill": 0.0, "refund": 0.0}

    def tick(self, now: float) -> None:
        for name, every, action in (
            ("join", 60.0, self._join),
            ("bill", 300.0, self._bill),
            ("refund", 20.0, self._refund),
        ):
            if now - self.last[name] >= every:
                self.last[name] = now
                try:
                    action()
                except Exception as exc:
                    key = f"{name}: {type(exc).__name__}"
                    self.errors[key] = self.errors.get(key, 0) + 1
                    from django.db import connection

                    connection.close()
        self.pending = _onboard_synced(self.stack, self.pending)

    def _join(self) -> None:
        before = len(self.world.customers)
        _new_customers(self.stack, self.world, 2)
        self.pending += self.world.customers[before:]

    def _bill(self) -> None:
        from invoicing.tasks import billing_run_task

        billing_run_task.delay()
        self.billing_runs += 1

    def _refund(self) -> None:
        self.refunds += int(_refund_one(self.refunded))


def soak(stack: Stack, *, minutes: float, customers: int) -> dict[str, Any]:
    world = world_module.build(stack, customers=customers)
    today = datetime.now(UTC).date()
    start = (today.replace(day=1) - timedelta(days=40)).replace(day=1)
    world_module.contracts_create(start=start, customer_ids=world.customers[: customers // 2])
    before = checks.counts(stack)
    ingest_stats = OpStats("ingest")
    ingesters = [
        Ingester(
            port=stack.port,
            api_key=world.ingest_key,
            customers=list(world.customers),
            run_id=f"soak{n}{uuid.uuid4().hex[:6]}",
            batch=100,
            duplicates=0.2,
            pause=0.1,
            stats=ingest_stats,
        )
        for n in range(2)
    ]
    usage = OpStats("usage query")
    pages = OpStats("usage page")
    pollers = [
        Poller(
            port=stack.port,
            api_key=world.read_key,
            stats=usage,
            pick=_usage_paths(world),
            pause=0.2,
        ),
        Poller(
            port=stack.port,
            api_key=None,
            stats=pages,
            pick=_page_paths(_tokens(world, 5)),
            pause=0.5,
        ),
    ]
    sampler = memory.Sampler(stack)
    actions = Actions(stack, world)
    for thread in [*ingesters, *pollers]:
        thread.start()
    started = time.monotonic()
    end = started + minutes * 60
    log(f"soak for {minutes:g} min")
    while time.monotonic() < end:
        actions.tick(time.monotonic())
        sampler.maybe_sample()
        time.sleep(TICK)
        log(
            f"  {(time.monotonic() - started) / 60:.1f} min: {len(ingest_stats.latencies)} "
            f"ingest requests, {actions.refunds} refunds, load {sampler.last_load()}"
        )
    elapsed = time.monotonic() - started
    stop_all([*ingesters, *pollers])
    sampler.sample()
    sent = sum(len(t.sent_ids) for t in ingesters)
    ops = {s.name: s.summary(elapsed) for s in (ingest_stats, usage, pages)}
    events_per_s = round(sum(t.accepted + t.duplicate for t in ingesters) / elapsed, 1)
    quiesced = quiesce(stack, timeout=600)
    failures = checks.exact(stack, sent_event_ids=before["events_stored"] + sent)
    data: dict[str, Any] = {
        "minutes": round(elapsed / 60, 1),
        "ops": ops,
        "events_per_s": events_per_s,
        "events_acknowledged": sent,
        "ingest_retries": sum(t.retries for t in ingesters),
        "webhooks": webhook_figures(stack),
        "refunds_requested": actions.refunds,
        "billing_runs": actions.billing_runs,
        "action_errors": actions.errors,
        "memory": sampler.summary(),
        "load": sampler.load_summary(),
        "quiesced_after_s": round(quiesced, 1),
        "counts": checks.counts(stack),
        "failures": failures,
        "invariants": checks.invariants(stack),
    }
    data["ok"] = not failures and data["invariants"]["clean"]
    data["markdown"] = markdown(data)
    return data


def webhook_figures(stack: Stack) -> dict[str, Any]:
    """Deliveries received and how long each waited from receipt to processed."""
    with stack.connection() as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'processed'),"
            " percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM processed_at - received_at))"
            " FROM invoicing_stripewebhookevent"
        ).fetchone()
        by_type = conn.execute(
            "SELECT type, count(*) FROM invoicing_stripewebhookevent GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        refunds = conn.execute(
            "SELECT status, count(*) FROM disputes_refund GROUP BY 1 ORDER BY 1"
        ).fetchall()
    pcts = [round(float(x) * 1000, 0) if x is not None else None for x in (row[2] or [])]
    return {
        "received": row[0],
        "processed": row[1],
        "receipt_to_processed_ms": dict(zip(("p50", "p95", "p99"), pcts, strict=False)),
        "by_type": dict(by_type),
        "refunds_by_status": dict(refunds),
    }


def markdown(d: dict[str, Any]) -> list[str]:
    lines = [
        f"Soak of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {d['minutes']} min.",
        "",
        "| operation | requests | per second | p50 | p95 | p99 | max | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, o in d["ops"].items():
        lines.append(
            f"| {name} | {o['requests']:,} | {o['per_s']} | {o['p50_ms']} ms | {o['p95_ms']} ms "
            f"| {o['p99_ms']} ms | {o['max_ms']} ms | {o['errors'] or 'none'} |"
        )
    w = d["webhooks"]
    lines += [
        "",
        f"Events: {d['events_acknowledged']:,} distinct acknowledged ({d['events_per_s']} "
        f"events/s including duplicates), ingest retries {d['ingest_retries']}. Webhook "
        f"deliveries: {w['received']} received, {w['processed']} processed, receipt to "
        f"processed {w['receipt_to_processed_ms']}; by type {w['by_type']}. Refunds requested "
        f"{d['refunds_requested']} ({w['refunds_by_status']}); billing runs "
        f"{d['billing_runs']}; action errors {d['action_errors'] or 'none'}.",
        "",
        "| process | RSS at start | RSS at end | max | growth |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, m in d["memory"].items():
        lines.append(
            f"| {name} | {m['first_mb']} MB | {m['last_mb']} MB | {m['max_mb']} MB "
            f"| {m['growth_mb']:+} MB |"
        )
    inv = d["invariants"]
    lines += [
        "",
        f"Load average (1 min) during the soak: {d['load']}. Quiesced "
        f"{d['quiesced_after_s']} s after the load stopped. Exact counts: "
        f"{'yes' if not d['failures'] else 'NO: ' + '; '.join(d['failures'])}. "
        f"check_invariants: {'clean' if inv['clean'] else 'BROKEN ' + str(inv['broken'])}.",
    ]
    return lines
