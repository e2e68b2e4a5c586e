"""Billing runs, read-only: when each ran, as of when, who started it, what it did, and the
contracts that failed (linked). Runs start from beat, ``POST /api/v1/billing-runs`` or
``manage.py billing_run``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from billingsite.admin_readonly import ReadOnlyAdmin
from invoicing.models import BillingRun


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "status",
        "trigger",
        "created_by",
        "contracts_total",
        "drafted",
        "refreshed",
        "finalized",
        "failed",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "trigger")
    date_hierarchy = "created_at"
    fields = (
        "as_of",
        "status",
        "trigger",
        "created_by",
        "contract_ids",
        "created_at",
        "started_at",
        "finished_at",
        "contracts_total",
        "contracts_done",
        "chunks_total",
        "chunks_done",
        "drafted",
        "refreshed",
        "finalized",
        "failed",
        "error_links",
    )
    readonly_fields = fields

    @admin.display(description="Errors")
    def error_links(self, obj: BillingRun) -> str:
        if not obj.errors:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">Contract #{}</a>: {}</li>',
                (
                    (
                        reverse("admin:invoicing_contract_change", args=[e["contract"]]),
                        e["contract"],
                        e["error"],
                    )
                    for e in obj.errors
                ),
            ),
        )
