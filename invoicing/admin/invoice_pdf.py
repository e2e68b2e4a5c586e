"""The invoice's PDF in the admin: a download link that serves the stored, issued document
followed by a page with the payment status as of the download (``invoice_pdf_download``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from invoicing.models import Invoice
from invoicing.services.invoice_pdfs import invoice_pdf_download
from invoicing.states import InvoiceStatus


class InvoicePdfMixin:
    """For ``InvoiceAdmin``: the ``pdf/`` download view and the change page's link to it."""

    admin_site: admin.AdminSite

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.pdf_view)
        pdf = path("<int:invoice_id>/pdf/", view, name="invoicing_invoice_pdf")
        return [pdf, *super().get_urls()]  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj)  # type: ignore[misc,no-any-return]

    def pdf_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        """The issued PDF, unchanged, plus the payment status as of now (last page)."""
        invoice = Invoice.objects.select_related("customer").filter(pk=invoice_id).first()
        if invoice is None:
            raise Http404("No such invoice.")
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        name = invoice.number or f"draft-{invoice.pk}"
        response = HttpResponse(invoice_pdf_download(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    @admin.display(description="PDF")
    def pdf_link(self, obj: Invoice) -> str:
        if obj.pk is None or obj.status == InvoiceStatus.DRAFT:
            return "-"
        url = reverse("admin:invoicing_invoice_pdf", args=[obj.pk])
        return format_html(
            '<a href="{}">{}.pdf</a> <span class="help">with the payment status as of the '
            "download on a last page</span>",
            url,
            obj.number,
        )
