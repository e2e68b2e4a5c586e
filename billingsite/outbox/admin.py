"""Outbox admin: read-only list with state/topic filters and errors; "retry now" for failed and
dead rows reports a result per row (the send itself happens in a worker, never in the request)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from billingsite.outbox.models import OutboxMessage
from billingsite.outbox.services import outbox_retry_now


def action_results(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    title: str,
    results: list[tuple[Any, str]],
    object_label: str = "Row",
) -> HttpResponse:
    """A results page for a bulk admin action: one line per object (shared by the apps)."""
    opts = model_admin.model._meta
    return TemplateResponse(
        request,
        "billingsite/admin/action_results.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": opts,
            "title": title,
            "results": results,
            "object_label": object_label,
            "back_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        },
    )


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "topic",
        "key",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error_code",
        "created_at",
        "sent_at",
    )
    list_filter = ("state", "topic")
    search_fields = ("key", "last_error")
    date_hierarchy = "created_at"
    actions = ["retry_now"]
    readonly_fields = (
        "topic",
        "key",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_error_code",
        "last_error",
        "result",
        "created_at",
        "sent_at",
        "updated_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a row is history: what we told Stripe and when

    @admin.action(description="Retry now (failed or dead rows)", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> HttpResponse:
        rows = {row.pk: row for row in queryset}
        results = outbox_retry_now(message_ids=list(rows))
        return action_results(
            request,
            self,
            "Retry now: results",
            [(rows.get(pk, pk), text) for pk, text in results],
            object_label="Outbox row",
        )
