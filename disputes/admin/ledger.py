"""Read-only ledger of refund and dispute postings."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from disputes.models import LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "posting_key", "account", "amount", "currency", "invoice",
                    "customer", "memo")
    list_filter = ("account", "currency")
    search_fields = ("posting_key", "memo")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
