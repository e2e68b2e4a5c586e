"""Reminder emails of collections: the outbox handler of ``collections.reminder``.

The email is written when the worker sends it (so it says what is still due then) to the
customer's billing contacts and billing email; an invoice paid meanwhile gets none. Outbox
delivery is at least once: a worker dying between the send and the row's commit may send a
reminder twice, which is harmless.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import ContactRole, Customer
from billingsite.money import amount_of, format_amount
from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.registry import register_outbox_handler
from invoicing.collections.services import collection_step_record
from invoicing.collections.topics import COLLECTION_REMINDER_TOPIC
from invoicing.models import DunningOutcome, Invoice
from invoicing.states import OPEN_STATUSES


def billing_recipients(customer: Customer) -> list[str]:
    """The billing contacts' addresses and the billing email, each once, in that order."""
    emails = list(
        customer.contacts.filter(role=ContactRole.BILLING)
        .order_by("pk")
        .values_list("email", flat=True)
    )
    if customer.email:
        emails.append(customer.email)
    return list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))


def reminder_text(invoice: Invoice, days: int) -> tuple[str, str]:
    amount = format_amount(amount_of(invoice.total), invoice.currency)
    due = invoice.due_at.date().isoformat() if invoice.due_at else "on receipt"
    if days < 0:
        when = f"is due in {-days} day{'s' if days != -1 else ''}, on {due}"
    elif days == 0:
        when = f"is due today ({due})"
    else:
        when = f"was due on {due} and is {days} day{'s' if days != 1 else ''} overdue"
    subject = f"Invoice {invoice.number}: {amount} {when.split(',')[0]}"
    body = (
        f"Hello {invoice.customer.name},\n\n"
        f"Invoice {invoice.number} for {amount} {when}.\n"
        "If you have paid it already, thank you and please ignore this message.\n"
    )
    return subject, body


def reminder_send(message: OutboxMessage) -> dict[str, Any]:
    invoice_id = int(message.payload["invoice_id"])
    step = str(message.payload["step"])
    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    if invoice.status not in OPEN_STATUSES:
        collection_step_record(
            invoice_id=invoice_id,
            step=step,
            outcome=DunningOutcome.SKIPPED,
            details={"why": f"invoice {invoice.status}"},
        )
        return {"skipped": f"invoice {invoice.status}"}
    recipients = billing_recipients(invoice.customer)
    if not recipients:
        collection_step_record(
            invoice_id=invoice_id,
            step=step,
            outcome=DunningOutcome.SKIPPED,
            details={"why": "no billing contact"},
        )
        return {"skipped": "no billing contact"}
    subject, body = reminder_text(invoice, int(step.split(":", 1)[1]))
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    collection_step_record(
        invoice_id=invoice_id,
        step=step,
        outcome=DunningOutcome.DONE,
        details={"sent_to": recipients},
    )
    return {"sent_to": recipients}


def register() -> None:
    register_outbox_handler(COLLECTION_REMINDER_TOPIC, reminder_send)
