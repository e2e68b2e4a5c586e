"""What every scenario ends with: ``manage.py check_invariants`` clean, and exact counts read
straight from the database (events acknowledged = stored = rolled up; one invoice per contract
and period; one Stripe object per idempotency key; nothing left unsent)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bench.reliability.stack import ROOT, Stack

COUNTS = {
    "events_stored": "SELECT count(*) FROM metering_usageevent",
    "events_rolled_up": "SELECT coalesce(sum(event_count), 0) FROM metering_hourlyrollup",
    "rollup_queue_rows": "SELECT count(*) FROM metering_rollupqueue",
    "invoices": "SELECT count(*) FROM invoicing_invoice WHERE kind = 'period'",
    "invoices_paid": "SELECT count(*) FROM invoicing_invoice WHERE status = 'paid'",
    "contract_periods_with_several_invoices": (
        "SELECT count(*) FROM (SELECT contract_id, period_start FROM invoicing_invoice"
        " WHERE kind = 'period' AND status <> 'void' GROUP BY 1, 2 HAVING count(*) > 1) d"
    ),
    "payments": "SELECT count(*) FROM invoicing_payment",
    "payments_per_paid_invoice_over_one": (
        "SELECT count(*) FROM (SELECT invoice_id FROM invoicing_payment WHERE status ="
        " 'succeeded' GROUP BY 1 HAVING count(*) > 1) d"
    ),
    "webhooks_not_processed": (
        "SELECT count(*) FROM invoicing_stripewebhookevent"
        " WHERE status NOT IN ('processed', 'ignored')"
    ),
    "outbox_not_sent": "SELECT count(*) FROM billingsite_outboxmessage WHERE state <> 'sent'",
    "customers_without_stripe_id": (
        "SELECT count(*) FROM accounts_customer WHERE stripe_customer_id = ''"
    ),
}


def counts(stack: Stack) -> dict[str, int]:
    with stack.connection() as conn:
        return {name: int(conn.execute(sql).fetchone()[0]) for name, sql in COUNTS.items()}


def invariants(stack: Stack) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "manage.py", "check_invariants"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    broken = [
        line.strip()
        for line in proc.stdout.splitlines()
        if "BROKEN" in line or line.startswith("    ")
    ]
    return {"clean": proc.returncode == 0, "broken": broken[:40], "tail": proc.stdout[-300:]}


def stripe_customers(stack: Stack) -> list[dict[str, Any]]:
    """Every customer object on the loopback Stripe (paged)."""
    import requests

    from billingsite.stripe_loopback.process import LOCALSTRIPE_API_KEY

    found: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if after:
            params["starting_after"] = after
        page = requests.get(
            f"{stack.stripe.base_url}/v1/customers",
            params=params,
            auth=(LOCALSTRIPE_API_KEY, ""),
            timeout=30,
        ).json()
        found += page["data"]
        if not page.get("has_more") or not page["data"]:
            return found
        after = page["data"][-1]["id"]


def exact(stack: Stack, *, sent_event_ids: int | None = None) -> list[str]:
    """The failures (empty when every count is exact)."""
    c = counts(stack)
    failures = []
    if sent_event_ids is not None and c["events_stored"] != sent_event_ids:
        failures.append(
            f"acknowledged {sent_event_ids} distinct events, stored {c['events_stored']}"
        )
    if c["events_rolled_up"] != c["events_stored"]:
        failures.append(f"stored {c['events_stored']} events, rolled up {c['events_rolled_up']}")
    for name in (
        "rollup_queue_rows",
        "contract_periods_with_several_invoices",
        "payments_per_paid_invoice_over_one",
        "webhooks_not_processed",
        "outbox_not_sent",
        "customers_without_stripe_id",
    ):
        if c[name]:
            failures.append(f"{name} = {c[name]}")
    several = stack.proxy.keys_with_several_objects()
    if several:
        failures.append(f"idempotency keys with several Stripe objects: {several}")
    on_stripe = stripe_customers(stack)
    per_customer: dict[str, int] = {}
    for obj in on_stripe:
        ref = (obj.get("metadata") or {}).get("tally_customer_id", "?")
        per_customer[ref] = per_customer.get(ref, 0) + 1
    doubles = {k: v for k, v in per_customer.items() if v > 1}
    if doubles:
        failures.append(f"Tally customers with several Stripe customers: {doubles}")
    return failures
