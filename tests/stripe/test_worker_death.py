"""A worker process killed after Stripe created the invoice but before Tally recorded it: the
row's lease runs out, another worker resends with the same idempotency key, and localstripe
still holds exactly one invoice for it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from billingsite.models import OutboxMessage
from billingsite.outbox.services import lease_seconds, outbox_claim, outbox_send
from invoicing.models import StripeInvoice
from invoicing.stripe.customers import customer_ensure_on_stripe
from tests import workers
from tests.stripe.die_after_create import DIED
from tests.stripe.sync_support import finalized_invoice
from tests.stripe_support import LOCALSTRIPE_API_KEY

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def stripe_invoices_for(localstripe, customer_id: str, invoice_pk: int) -> list[dict]:
    response = requests.get(
        localstripe.base_url + "/v1/invoices",
        params={"customer": customer_id, "limit": 100},
        auth=(LOCALSTRIPE_API_KEY, ""),
        timeout=5,
    )
    response.raise_for_status()
    return [
        obj
        for obj in response.json()["data"]
        if obj["metadata"].get("tally_invoice_id") == str(invoice_pk)
    ]


def test_killed_worker_does_not_create_a_second_stripe_invoice(localstripe_settings):
    invoice = finalized_invoice()
    customer_id = customer_ensure_on_stripe(invoice.customer)
    env = {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "STRIPE_API_BASE": localstripe_settings.base_url,
        "STRIPE_API_KEY": LOCALSTRIPE_API_KEY,
    }
    child = subprocess.run(
        [sys.executable, "-m", "tests.stripe.die_after_create"],
        cwd=workers.ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == DIED, child.stderr.decode()[-2000:]
    row = OutboxMessage.objects.get(key=f"invoice:{invoice.pk}:finalize")
    assert (row.state, row.attempts) == ("sending", 1)  # the dead worker's lease
    [created] = stripe_invoices_for(localstripe_settings, customer_id, invoice.pk)
    assert not StripeInvoice.objects.filter(invoice=invoice).exists()

    later = timezone.now() + timedelta(seconds=lease_seconds() + 1)
    [(row_id, attempt)] = outbox_claim(now=later)
    assert (row_id, attempt) == (row.pk, 2)
    assert outbox_send(row_id, attempt).outcome == "sent"
    [only] = stripe_invoices_for(localstripe_settings, customer_id, invoice.pk)
    assert only["id"] == created["id"] == StripeInvoice.objects.get(invoice=invoice).stripe_id
    assert len(only["lines"]["data"]) == invoice.lines.count()
