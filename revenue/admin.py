"""The journal (read-only) and the month-close report (HTML and CSV), for the Finance role."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from billingsite.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from billingsite.display import money_text
from billingsite.errors import AppError
from revenue.models import JournalEntry, JournalLine
from revenue.selectors import Month, month_close

REPORT_PERMISSION = "revenue.view_journalentry"


class JournalLineInline(ReadOnlyInline):
    model = JournalLine
    fields = ("account", "debit_amount", "credit_amount", "charge_key", "customer", "invoice_line")
    readonly_fields = fields

    @admin.display(description="Debit")
    def debit_amount(self, obj: JournalLine) -> str:
        return money_text(obj.debit, obj.currency) if obj.debit else ""

    @admin.display(description="Credit")
    def credit_amount(self, obj: JournalLine) -> str:
        return money_text(obj.credit, obj.currency) if obj.credit else ""


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("date", "source_key", "source_type", "currency", "memo")
    list_filter = ("source_type", "currency")
    search_fields = ("source_key", "memo")
    date_hierarchy = "date"
    inlines = (JournalLineInline,)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "month-close/",
                view(self.month_close_view),
                name="revenue_journalentry_month_close",
            ),
            *super().get_urls(),
        ]

    def month_close_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(REPORT_PERMISSION):
            raise PermissionDenied
        text = request.GET.get("month") or timezone.now().strftime("%Y-%m")
        error, report = "", None
        try:
            report = month_close(Month.parse(text))
        except AppError as exc:
            error = exc.message
        if report is not None and request.GET.get("format") == "csv":
            return month_close_csv(report)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Month close {text}",
            "month": text,
            "error": error,
            "report": report,
        }
        return TemplateResponse(request, "revenue/admin/month_close.html", context)


def month_close_rows(report: dict[str, Any]) -> list[list[str]]:
    """(section, currency, key, value) rows: the JSON answer flattened, one figure a row."""
    rows = []
    for currency, sections in report["currencies"].items():
        for section, figures in sections.items():
            for key, value in figures.items():
                if isinstance(value, dict):
                    for name, amount in value.items():
                        rows.append([f"{section}.{key}", currency, name, str(amount)])
                else:
                    rows.append([section, currency, key, str(value)])
    return rows


def month_close_csv(report: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="month-close-{report["month"]}.csv"'
    writer = csv.writer(response)
    writer.writerow(["section", "currency", "key", "value"])
    writer.writerows(month_close_rows(report))
    return response
