"""Invoice lines in the invoice's admin page: the line with its "explain" link, the quantity
with its meter's unit, the price as a small table, how it was rated folded."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from billingsite.admin_display import collapsed_html, price_spec_html
from billingsite.admin_readonly import ReadOnlyInline as _ReadOnlyInline
from billingsite.display import quantity_text
from invoicing.models import Invoice, InvoiceLine
from metering.models import Meter


def invoice_link(invoice: Invoice) -> str:
    url = reverse("admin:invoicing_invoice_change", args=[invoice.pk])
    return format_html('<a href="{}">{} ({})</a>', url, invoice, invoice.get_status_display())


class LineInline(_ReadOnlyInline):
    model = InvoiceLine
    fk_name = "invoice"
    # Narrow enough for a laptop: the line and its "explain" link in one cell, the price as a
    # small table, how it was rated folded, and links to a grant or adjusted invoice together.
    fields = ("line", "meter_key", "quantity_shown", "amount", "price_table", "rating", "related")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[InvoiceLine]:
        # the meter's unit in the same query (a line keeps its meter's key, not a foreign key)
        unit = Meter.objects.filter(key=OuterRef("meter_key")).values("unit")[:1]
        return super().get_queryset(request).annotate(meter_unit=Subquery(unit))

    @admin.display(description="Quantity")
    def quantity_shown(self, obj: InvoiceLine) -> str:
        if obj.quantity is None:
            return "-"
        return quantity_text(obj.quantity, getattr(obj, "meter_unit", None) or "")

    @admin.display(description="Line")
    def line(self, obj: InvoiceLine) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("invoice-line-explain", args=[obj.pk])
        return format_html(
            '{}. {}<br><a href="{}">Explain this charge</a>', obj.position, obj.description, url
        )

    @admin.display(description="Credit grant or adjusted invoice")
    def related(self, obj: InvoiceLine) -> str:
        if obj.credit_grant_id:
            url = reverse("admin:invoicing_creditgrant_change", args=[obj.credit_grant_id])
            return format_html('<a href="{}">{}</a>', url, obj.credit_grant)
        if obj.adjusts_invoice is not None:
            return invoice_link(obj.adjusts_invoice)
        return "-"

    @admin.display(description="Price")
    def price_table(self, obj: InvoiceLine) -> str:
        return price_spec_html(obj.price, obj.currency) if obj.price else "-"

    @admin.display(description="How it was rated")
    def rating(self, obj: InvoiceLine) -> str:
        parts = {"breakdown": obj.breakdown, "overrides": obj.overrides, "details": obj.details}
        shown = {name: value for name, value in parts.items() if value}
        return collapsed_html("Breakdown and details", shown) if shown else "-"
