"""Builders for the Finance API tests: staff people with API keys that act for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billingsite.celery import app
from invoicing.models import Invoice, Payment
from invoicing.services.invoices import invoice_mark_paid
from tests.disputes.factories import staff


def person_api(role: str, name: str) -> tuple[User, APIClient]:
    """A staff user in ``role`` and an admin-scope API key created by them."""
    user = staff(role, name)
    issued = api_key_create(name=f"{name}-key", scope="admin", created_by=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return user, client


@contextmanager
def celery_inline() -> Iterator[None]:
    """Tasks run where they are sent (the worker-backed test is in test_billing_runs_api)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


def stripe_paid(invoice: Invoice, reference: str) -> Payment:
    """What the Stripe webhook records when the customer pays (tests/disputes/factories.py)."""
    invoice = invoice_mark_paid(invoice=invoice, now=timezone.now())
    return Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        stripe_payment_intent_id=f"pi_{reference}",
        stripe_charge_id=f"ch_{reference}",
        currency=invoice.currency,
        amount=invoice.total,
        amount_captured=invoice.total,
        status="succeeded",
        stripe_created=timezone.now(),
    )
