"""Read-only event browser. Search is exact: an event id, a customer id or alias, or a type."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.services import customer_by_identifier
from billingsite.admin_readonly import ReadOnlyAdmin
from metering.admin.common import CappedCountPaginator, ReceivedFilter, RecentFilter
from metering.models import MeterVersion, UsageEvent


class TypeFilter(admin.SimpleListFilter):
    """Event types that meters select (read from meters, not by scanning events)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        types = sorted(set(MeterVersion.objects.values_list("event_type", flat=True)))
        return [(t, t) for t in types]

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = (
        "event_id",
        "namespace",
        "customer_ref",
        "customer",
        "type",
        "timestamp",
        "received_at",
        "is_late",
    )
    list_filter = (RecentFilter, ReceivedFilter, TypeFilter, "is_late")
    list_select_related = ("customer",)
    search_fields = ("event_id",)  # see get_search_results: exact matches only
    search_help_text = "Exact event id, customer external id or alias, or event type."
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    ordering = ("-id",)
    readonly_fields = (
        "namespace",
        "event_id",
        "customer",
        "customer_ref",
        "type",
        "timestamp",
        "timestamp_given",
        "properties",
        "received_at",
        "attributed_at",
        "is_late",
        "late_marked_at",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        """One exact, index-friendly predicate: an event id if one exists, else a customer
        (external id or alias), else an unattributed customer reference, else a type."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if UsageEvent.objects.filter(event_id=term).exists():
            return queryset.filter(event_id=term), False
        customer = customer_by_identifier(term)
        if customer is not None:
            return queryset.filter(customer=customer), False
        if UsageEvent.objects.filter(customer__isnull=True, customer_ref=term).exists():
            return queryset.filter(customer__isnull=True, customer_ref=term), False
        return queryset.filter(type=term), False
