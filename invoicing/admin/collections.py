"""Admin for collections and tax: dunning steps (read-only, also inline on the invoice page),
the accounts-receivable aging report (HTML and CSV), and the tax table (Finance edits; a rate
used by invoices is ended, never deleted)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from invoicing.collections.selectors import BUCKETS, aging_invoices, ar_aging, ar_aging_csv
from invoicing.models import DunningStep, TaxRate, TaxRateAssignment


class DunningStepInline(ReadOnlyInline):
    model = DunningStep
    fields = ("taken_at", "step", "kind", "due_at", "outcome", "details")
    readonly_fields = fields
    verbose_name_plural = "collections (dunning steps)"


@admin.register(DunningStep)
class DunningStepAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ("taken_at", "invoice", "customer", "step", "outcome")
    list_filter = ("kind", "outcome")
    search_fields = ("invoice__number", "customer__external_id")
    list_select_related = ("invoice", "customer")
    change_list_template = "invoicing/admin/dunning_changelist.html"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("ar-aging/", view(self.ar_aging_view), name="invoicing_dunningstep_ar_aging"),
            *super().get_urls(),
        ]

    def ar_aging_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        now = timezone.now()
        rows = ar_aging(now=now)
        if request.GET.get("format") == "csv":
            response = HttpResponse(ar_aging_csv(rows), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="ar-aging-{now:%Y%m%d}.csv"'
            return response
        table = [(row, [row.buckets[b] for b in BUCKETS]) for row in rows]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Accounts receivable aging",
            "as_of": now,
            "buckets": BUCKETS,
            "table": table,
            "invoices": aging_invoices(now=now)[:500],
        }
        return TemplateResponse(request, "invoicing/admin/ar_aging.html", context)


class TaxRateAssignmentInline(admin.TabularInline):
    model = TaxRateAssignment
    extra = 0
    fields = ("tax_id", "created_at")
    readonly_fields = ("created_at",)


@admin.register(TaxRate)
class TaxRateAdmin(SimpleHistoryAdmin):
    list_display = ("name", "jurisdiction", "rate", "inclusive", "effective_from", "effective_to")
    list_filter = ("jurisdiction", "inclusive")
    search_fields = ("name", "jurisdiction", "assignments__tax_id")
    inlines = [TaxRateAssignmentInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # a saved rate may have been applied: only its end date (and assignments) may change
        if obj is not None:
            return ("name", "jurisdiction", "rate", "inclusive", "effective_from")
        return ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
