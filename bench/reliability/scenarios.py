"""The fault scenarios. Each injects one break into the running stack while work is in flight,
lets the system recover on its own (no manual step), then waits for quiescence and checks the
exact counts (checks.exact). Every wait is bounded; a scenario returns its figures."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.reliability import checks
from bench.reliability.load import Ingester, stop_all
from bench.reliability.stack import Stack, log
from bench.reliability.world import (
    World,
    attach_cards,
    contracts_create,
    wait_for,
    wait_synced,
)

Scenario = Callable[[Stack, World], dict[str, Any]]


def _backend_waiting(stack: Stack, like: str) -> bool:
    with stack.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            [f"%{like}%"],
        ).fetchone()
    return bool(row and row[0])


def quiesce(stack: Stack, *, timeout: float = 240) -> float:
    """Wait until queued rollups, unsent outbox rows and unprocessed webhooks are all gone
    (Stripe sends its webhooks a second after the change) and stay gone for a few seconds."""

    def idle() -> bool:
        c = checks.counts(stack)
        return (
            not (c["rollup_queue_rows"] or c["outbox_not_sent"] or c["webhooks_not_processed"])
            and c["events_rolled_up"] == c["events_stored"]
        )

    took = wait_for(idle, timeout=timeout, what="queues drained")
    time.sleep(4)
    return took + wait_for(idle, timeout=timeout, what="queues drained (after webhooks)")


def _ingest(stack: Stack, world: World, seconds: float, clients: int = 2) -> list[Ingester]:
    run = uuid.uuid4().hex[:8]
    threads = [
        Ingester(
            port=stack.port,
            api_key=world.ingest_key,
            customers=world.customers,
            run_id=f"{run}{n}",
            batch=100,
            duplicates=0.2,
            pause=0.05,
        )
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    return threads


def _sent(threads: list[Ingester]) -> int:
    return sum(len(t.sent_ids) for t in threads)


def _finish(stack: Stack, result: dict[str, Any], sent: int | None) -> dict[str, Any]:
    result["quiesced_after_s"] = round(quiesce(stack), 1)
    result["failures"] = checks.exact(stack, sent_event_ids=sent)
    result["counts"] = checks.counts(stack)
    result["invariants"] = checks.invariants(stack)
    result["ok"] = not result["failures"] and result["invariants"]["clean"]
    return result


def worker_kill_rollup(stack: Stack, world: World) -> dict[str, Any]:
    """SIGKILL the worker while a rollup holds its claimed batch (blocked on the meter lock)."""
    from metering.services.rollups import METER_DEFINITIONS_LOCK

    before = checks.counts(stack)["events_stored"]
    with stack.connection() as blocker:
        blocker.execute("SELECT pg_advisory_lock(%s)", [METER_DEFINITIONS_LOCK])
        threads = _ingest(stack, world, 6)
        stop_all(threads)
        wait_for(
            lambda: _backend_waiting(stack, "pg_advisory_xact_lock_shared"),
            timeout=60,
            what="a rollup inside its transaction",
        )
        stack.kill("worker")
        killed = time.monotonic()
        log("worker SIGKILLed mid-rollup; restarting it")
        blocker.execute("SELECT pg_advisory_unlock(%s)", [METER_DEFINITIONS_LOCK])
    stack.start("worker")
    wait_for(
        lambda: checks.counts(stack)["rollup_queue_rows"] == 0,
        timeout=180,
        what="the rollup queue to drain",
    )
    result = {
        "events_acknowledged": _sent(threads),
        "rolled_up_after_kill_s": round(time.monotonic() - killed, 1),
        "ingest_retries": sum(t.retries for t in threads),
    }
    return _finish(stack, result, before + _sent(threads))


def worker_kill_billing(stack: Stack, world: World) -> dict[str, Any]:
    """SIGKILL the worker while a billing run is drafting and finalizing invoices."""
    from invoicing.tasks import billing_run_task

    today = datetime.now(UTC).date()
    start = date(today.year - (today.month <= 3), (today.month - 4) % 12 + 1, 1)
    made = contracts_create(start=start, customer_ids=world.customers)
    before = checks.counts(stack)
    billing_run_task.delay()
    wait_for(
        lambda: checks.counts(stack)["invoices"] > before["invoices"],
        timeout=240,
        what="the billing run to write its first invoice",
        interval=0.05,
    )
    at_kill = checks.counts(stack)["invoices"] - before["invoices"]
    stack.kill("worker")
    killed = time.monotonic()
    log(f"worker SIGKILLed mid-billing-run ({at_kill} invoices written); restarting it")
    stack.start("worker")
    periods = _periods_since(start, today)
    wait_for(
        lambda: checks.counts(stack)["invoices"] - before["invoices"] >= made * periods,
        timeout=300,
        what="every contract's periods invoiced",
    )
    result = {
        "contracts": made,
        "periods_each": periods,
        "invoices_when_killed": at_kill,
        "all_invoiced_after_kill_s": round(time.monotonic() - killed, 1),
    }
    result = _finish(stack, result, None)
    expected = before["invoices"] + made * periods
    if result["counts"]["invoices"] != expected:
        result["failures"].append(f"invoices {result['counts']['invoices']} != {expected}")
        result["ok"] = False
    return result


def _periods_since(start: date, today: date) -> int:
    return (today.year - start.year) * 12 + today.month - start.month


def worker_kill_outbox(stack: Stack, world: World) -> dict[str, Any]:
    """SIGKILL the worker while Stripe holds its reply to a customer create (the object exists
    on Stripe, Tally has not heard): the retry after the lease must not make a second one."""
    from accounts.services import customer_create

    stack.proxy.set_mode("stall")
    ids = [f"rel-ob-{uuid.uuid4().hex[:6]}-{n}" for n in range(5)]
    for external_id in ids:
        customer_create(external_id=external_id, name=external_id, email=f"{external_id}@x.test")
    wait_for(lambda: stack.proxy.stalled > 0, timeout=60, what="a send stalled mid-flight")
    stack.kill("worker")
    killed = time.monotonic()
    stack.proxy.set_mode("ok")
    log("worker SIGKILLed mid-outbox-send; restarting it")
    stack.start("worker")
    wait_synced(timeout=240)
    world.customers += ids
    result = {"customers": len(ids), "sent_after_kill_s": round(time.monotonic() - killed, 1)}
    attach_cards(stack, ids)
    return _finish(stack, result, None)


def worker_kill_webhook(stack: Stack, world: World) -> dict[str, Any]:
    """SIGKILL the worker while it applies a payment webhook (held on the payments table)."""
    from django.utils import timezone

    from accounts.services import customer_create
    from invoicing.services.billing import billing_run

    customers = [f"rel-wh-{uuid.uuid4().hex[:6]}-{n}" for n in range(4)]
    for external_id in customers:
        customer_create(external_id=external_id, name=external_id, email=f"{external_id}@x.test")
    wait_synced(timeout=180)
    attach_cards(stack, customers)
    world.customers += customers
    before = checks.counts(stack)
    today = datetime.now(UTC).date()
    start = (today.replace(day=1) - timedelta(days=40)).replace(day=1)  # a finalized period
    with stack.connection() as blocker:
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE invoicing_payment IN EXCLUSIVE MODE")
        made = contracts_create(start=start, customer_ids=customers)
        billing_run(now=timezone.now())
        wait_for(
            lambda: _backend_waiting(stack, "invoicing_payment"),
            timeout=180,
            what="a webhook handler inside its transaction",
        )
        stack.kill("worker")
        killed = time.monotonic()
        blocker.execute("ROLLBACK")
    log("worker SIGKILLed mid-webhook; restarting it")
    stack.start("worker")
    result = {"contracts": made, "payments_before": before["payments"]}
    result = _finish(stack, result, None)
    result["processed_after_kill_s"] = round(time.monotonic() - killed, 1)
    return result


def redis_crash(stack: Stack, world: World) -> dict[str, Any]:
    """Tasks queued in Redis (worker and beat stopped), Redis SIGKILLed and started again."""
    from billingsite.tasks import heartbeat

    before = checks.counts(stack)["events_stored"]
    stack.stop("worker")
    stack.stop("beat")
    threads = _ingest(stack, world, 5)
    stop_all(threads)
    for _ in range(50):
        heartbeat.delay()
    queued = _queued(stack)
    time.sleep(1.5)  # the append-only file is fsynced every second
    stack.crash_redis()
    stack.start_redis()
    after = _queued(stack)
    log(f"Redis crashed with {queued} tasks queued; {after} still queued after restart")
    stack.start("worker")
    stack.start("beat")
    result = {
        "tasks_queued_before": queued,
        "tasks_queued_after_restart": after,
        "events_acknowledged": _sent(threads),
    }
    result = _finish(stack, result, before + _sent(threads))
    if after < queued:
        result["failures"].append(f"Redis lost {queued - after} queued tasks")
        result["ok"] = False
    return result


def _queued(stack: Stack) -> int:
    import redis

    total = 0
    for db in range(16):
        client = redis.Redis(unix_socket_path=str(stack.redis_sock), db=db)
        for name in ("default", "rollups", "billing", "stripe", "notifications"):
            total += int(client.llen(name))
        client.close()
    return total


def postgres_restart(stack: Stack, world: World, *, mode: str = "fast") -> dict[str, Any]:
    """PostgreSQL stopped for 5 s and started again while clients ingest."""
    from django.db import connections

    before = checks.counts(stack)["events_stored"]
    threads = _ingest(stack, world, 5, clients=3)
    log(f"stopping PostgreSQL ({mode}) for 5 s during ingest")
    stack.restart_postgres(down_seconds=5, mode=mode)
    connections.close_all()  # this process's own, as a request or task would
    time.sleep(10)
    stop_all(threads)
    return _outage_result(stack, threads, before, allowed={"503"})


def _outage_result(
    stack: Stack, threads: list[Ingester], before: int, *, allowed: set[str]
) -> dict[str, Any]:
    """Finish an outage scenario; an ingest answer other than 200 or ``allowed`` fails it."""
    errors: dict[str, int] = {}
    for t in threads:
        for status, n in t.stats.errors.items():
            errors[str(status)] = errors.get(str(status), 0) + n
    result = {
        "events_acknowledged": _sent(threads),
        "ingest_errors_during_outage": errors,
        "ingest_retries": sum(t.retries for t in threads),
    }
    result = _finish(stack, result, before + _sent(threads))
    unexpected = {k: v for k, v in errors.items() if k not in allowed}
    if unexpected:
        result["failures"].append(f"ingest answers other than {sorted(allowed)}: {unexpected}")
        result["ok"] = False
    return result


def redis_down(stack: Stack, world: World) -> dict[str, Any]:
    """Redis SIGKILLed and kept down for 8 s while clients ingest: the API keeps accepting
    (rate limit fails open, the rollup kick is skipped), beat's sweeps catch up after."""
    before = checks.counts(stack)["events_stored"]
    threads = _ingest(stack, world, 5, clients=2)
    log("Redis down for 8 s during ingest")
    stack.crash_redis()
    time.sleep(8)
    stack.start_redis()
    time.sleep(8)
    stop_all(threads)
    # A process that did not survive the outage is a finding; restart it as a supervisor
    # would, so the counts can still be checked.
    died = [name for name, proc in stack.procs.items() if proc.poll() is not None]
    for name in died:
        stack.procs.pop(name)
        stack.start(name)
    result = _outage_result(stack, threads, before, allowed=set())
    result["processes_exited"] = died
    if died:
        result["failures"].append(f"exited during the Redis outage: {died}")
        result["ok"] = False
    return result


def postgres_crash(stack: Stack, world: World) -> dict[str, Any]:
    return postgres_restart(stack, world, mode="immediate")


def stripe_errors(stack: Stack, world: World) -> dict[str, Any]:
    """Stripe answers 500, 429, times out, or loses its reply after acting, for 12 s each,
    while customers are created (each a Stripe create under an idempotency key)."""
    from accounts.services import customer_create

    answered: dict[str, int] = {}
    for mode in ("500", "429", "timeout", "500-after"):
        stack.proxy.set_mode(mode)
        for n in range(3):
            external_id = f"rel-se-{mode}-{uuid.uuid4().hex[:6]}-{n}"
            customer_create(
                external_id=external_id, name=external_id, email=f"{external_id}@x.test"
            )
            world.customers.append(external_id)
        time.sleep(12)
        answered[mode] = stack.proxy.answered[mode]
        stack.proxy.set_mode("ok")
        log(f"Stripe answered {answered[mode]} requests with fault {mode!r}")
    wait_synced(timeout=300)
    return _finish(stack, {"faulted_requests": answered}, None)


SCENARIOS: dict[str, Scenario] = {
    "worker-kill-rollup": worker_kill_rollup,
    "worker-kill-billing": worker_kill_billing,
    "worker-kill-outbox": worker_kill_outbox,
    "worker-kill-webhook": worker_kill_webhook,
    "redis-crash": redis_crash,
    "redis-down": redis_down,
    "postgres-restart": postgres_restart,
    "postgres-crash": postgres_crash,
    "stripe-errors": stripe_errors,
}
