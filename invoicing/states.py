"""Invoice statuses and the transitions allowed between them.

A transition is applied by ``invoicing.services.invoices.invoice_transition``: one conditional
UPDATE (``WHERE status IN allowed sources``) plus an ``InvoiceTransition`` audit row, so two
callers racing on the same invoice cannot both succeed.
"""

from __future__ import annotations

from django.db import models

from billingsite.transitions import TransitionMap


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINALIZED = "finalized", "Finalized (open)"
    PAST_DUE = "past_due", "Past due (open)"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


TRANSITIONS = TransitionMap(
    {
        InvoiceStatus.DRAFT: frozenset({InvoiceStatus.FINALIZED, InvoiceStatus.VOID}),
        InvoiceStatus.FINALIZED: frozenset(
            {
                InvoiceStatus.PAID,
                InvoiceStatus.VOID,
                InvoiceStatus.UNCOLLECTIBLE,
                InvoiceStatus.PAST_DUE,
            }
        ),
        # collections (invoicing.collections): unpaid after its due date; still open
        InvoiceStatus.PAST_DUE: frozenset(
            {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}
        ),
        InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
        InvoiceStatus.PAID: frozenset(),
        InvoiceStatus.VOID: frozenset(),
    }
)


# Issued and still waiting for money: what collections chase and the AR aging report lists.
OPEN_STATUSES = (InvoiceStatus.FINALIZED, InvoiceStatus.PAST_DUE)


def sources_of(target: str) -> frozenset[str]:
    """Statuses from which ``target`` may be reached."""
    return TRANSITIONS.sources_of(target)


def can_transition(current: str, target: str) -> bool:
    return TRANSITIONS.allows(current, target)


class ChargeKind(models.TextChoices):
    FIXED = "fixed", "Recurring fixed fee"
    USAGE = "usage", "Usage charge (bound to a meter)"
