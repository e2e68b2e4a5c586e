"""Read-only ledger of refund and dispute postings."""

from __future__ import annotations

from django.contrib import admin

from billingsite.admin_readonly import ReadOnlyAdmin
from disputes.models import LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "posting_key",
        "account",
        "amount",
        "invoice",
        "customer",
        "memo",
    )
    list_filter = ("account", "currency")
    search_fields = ("posting_key", "memo")
