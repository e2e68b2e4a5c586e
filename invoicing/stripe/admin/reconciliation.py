"""Reconciliation reports: runs with their counts and differences (read-only)."""

from __future__ import annotations

from django.contrib import admin

from invoicing.models import ReconciliationDifference, ReconciliationRun
from invoicing.stripe.admin.objects import ReadOnlyAdmin


class DifferenceInline(admin.TabularInline):
    model = ReconciliationDifference
    extra = 0
    can_delete = False
    fields = (
        "object_type",
        "kind",
        "stripe_id",
        "tally_ref",
        "tally_value",
        "stripe_value",
        "details",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "status",
        "difference_count",
        "trigger",
        "counts",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "trigger")
    date_hierarchy = "period_start"
    fields = (
        "period_start",
        "period_end",
        "status",
        "trigger",
        "counts",
        "error",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    inlines = [DifferenceInline]

    @admin.display(description="Differences")
    def difference_count(self, obj: ReconciliationRun) -> int:
        return obj.differences.count()


@admin.register(ReconciliationDifference)
class ReconciliationDifferenceAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "object_type",
        "kind",
        "stripe_id",
        "tally_ref",
        "tally_value",
        "stripe_value",
    )
    list_filter = ("kind", "object_type", "run__status")
    search_fields = ("stripe_id", "tally_ref")
    list_select_related = ("run",)
