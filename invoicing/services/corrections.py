"""Corrections of issued invoices that Finance runs from the admin and the API: void and
re-issue in one step, re-issue a voided invoice and optionally issue the replacement at once.

Invariants: all or nothing (void, replacement draft and its finalization share one
transaction, so a failure leaves the original as it was); each step goes through the invoice
service that owns it (``invoice_void``, ``invoice_reissue``, ``invoice_finalize``); the
replacement is recorded by ``invoice_reissue`` with whom it replaces, who asked and why.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from invoicing.models import Invoice
from invoicing.services.invoices import invoice_finalize, invoice_reissue, invoice_void
from invoicing.usage import UsageSource, default_usage


@transaction.atomic
def invoice_replace(
    *,
    invoice: Invoice,
    now: datetime,
    usage: UsageSource | None = None,
    actor: User | None = None,
    void_reason: str | None = None,
    finalize: bool = False,
) -> Invoice:
    """Replace ``invoice`` with a new invoice for its period and return the replacement.

    With ``void_reason`` the invoice is voided first (it must be a draft or unpaid); without
    it the invoice must be void already. With ``finalize`` the replacement is numbered and
    issued now, otherwise the billing run issues it (its grace period is already over)."""
    usage = usage or default_usage()
    if void_reason is not None:
        invoice = invoice_void(invoice=invoice, reason=void_reason, now=now, actor=actor)
    replacement = invoice_reissue(invoice=invoice, now=now, actor=actor)
    if finalize:
        invoice_finalize(invoice_id=replacement.pk, usage=usage, now=now, actor=actor, wait=True)
        replacement.refresh_from_db()
    return replacement
