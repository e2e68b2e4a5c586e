"""Invoices: read-only records with their lines, status history, PDF and the invoice they
replace or are replaced by; bulk "finalize now", "void", "credit in full" and the corrections
(void and re-issue, re-issue; see corrections.py) go through a confirmation page and report a
result per invoice."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyInline as _ReadOnlyInline
from billingsite.display import money_text, period_text
from billingsite.errors import AppError
from billingsite.money import amount_of
from billingsite.staff import staff_user
from invoicing.admin.collections import DunningStepInline
from invoicing.admin.corrections import InvoiceCorrectionsMixin, manual_outcomes
from invoicing.admin.invoice_lines import LineInline, invoice_link
from invoicing.admin.invoice_pdf import InvoicePdfMixin
from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceTransition,
)
from invoicing.services.credit_notes import credit_note_create, invoice_amount_due
from invoicing.services.invoices import invoice_finalize, invoice_void
from invoicing.services.pdf import credit_note_pdf_render


class CreditNoteInline(_ReadOnlyInline):
    model = CreditNote
    fields = ("number", "created_at", "outcome", "total", "reason", "created_by")
    readonly_fields = fields
    show_change_link = True


class TransitionInline(_ReadOnlyInline):
    model = InvoiceTransition
    fields = ("created_at", "from_status", "to_status", "reason", "actor")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(InvoicePdfMixin, InvoiceCorrectionsMixin, SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "customer",
        "status",
        "total",
        "period",
        "issued_at",
        "due_at",
    )
    list_filter = ("status", "kind", "currency")
    list_select_related = ("customer",)
    search_fields = ("number", "customer__external_id", "customer__name")
    date_hierarchy = "period_start"
    inlines = [LineInline, CreditNoteInline, TransitionInline, DunningStepInline]
    actions = [
        "finalize_now",
        "void_invoices",
        "void_and_reissue",
        "reissue_voided",
        "credit_in_full",
    ]
    fields = (
        "number",
        "status",
        "kind",
        "customer",
        "contract",
        "replaces_link",
        "replaced_by_link",
        "currency",
        "period_start",
        "period_end",
        "total",
        "finalize_after",
        "issued_at",
        "due_at",
        "amount_due",
        "paid_at",
        "voided_at",
        "void_reason",
        "pdf_link",
        "refreshed_at",
        "stripe_summary",
    )
    readonly_fields = fields

    @admin.display(description="Stripe")
    def stripe_summary(self, obj: Invoice) -> str:
        from invoicing.stripe.admin.objects import invoice_stripe_summary

        return invoice_stripe_summary(obj)

    @admin.display(description="Replaces")
    def replaces_link(self, obj: Invoice) -> str:
        return invoice_link(obj.replaces) if obj.replaces is not None else "-"

    @admin.display(description="Replaced by")
    def replaced_by_link(self, obj: Invoice) -> str:
        replacement = Invoice.objects.filter(replaces=obj).first()
        return invoice_link(replacement) if replacement else "-"

    @admin.display(description="Amount due")
    def amount_due(self, obj: Invoice) -> str:
        return money_text(invoice_amount_due(obj), obj.currency)

    @admin.display(description="Period", ordering="period_start")
    def period(self, obj: Invoice) -> str:
        return period_text(obj.period_start, obj.period_end, obj.customer.timezone)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        from invoicing.stripe.admin.objects import stripe_waiting_notice

        notice = stripe_waiting_notice(object_id)
        if notice:
            messages.warning(request, notice)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # drafts are the billing run's; issued invoices are voided, not deleted

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet[Invoice],
        *,
        action: str,
        title: str,
        needs_reason: bool,
        outcomes: Any = None,
        offers_finalize: bool = False,
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            "invoicing/admin/invoice_action_confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "invoices": queryset,
                "action": action,
                "needs_reason": needs_reason,
                "outcomes": outcomes,
                "offers_finalize": offers_finalize,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _results(
        self, request: HttpRequest, title: str, results: list[tuple[Invoice, str, bool]]
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            "invoicing/admin/invoice_action_results.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "results": results,
            },
        )

    @admin.action(
        description="Finalize now (skip the rest of the grace period)", permissions=["change"]
    )
    def finalize_now(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse:
        if "confirm" not in request.POST:
            return self._confirm(
                request,
                queryset,
                action="finalize_now",
                title="Finalize these invoices now?",
                needs_reason=False,
            )
        results = []
        for invoice in queryset.order_by("pk"):
            try:
                done = invoice_finalize(
                    invoice_id=invoice.pk,
                    now=timezone.now(),
                    actor=staff_user(request),
                    wait=True,
                )
                results.append(
                    (
                        invoice,
                        f"finalized as {done.number}"
                        if done
                        else f"skipped: it is {invoice.status}",
                        done is not None,
                    )
                )
            except AppError as exc:
                results.append((invoice, f"failed: {exc.message}", False))
        return self._results(request, "Finalize now: results", results)

    @admin.action(description="Void (with a reason)", permissions=["change"])
    def void_invoices(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse:
        reason = request.POST.get("reason", "").strip()
        if "confirm" not in request.POST or not reason:
            return self._confirm(
                request,
                queryset,
                action="void_invoices",
                title="Void these invoices?",
                needs_reason=True,
            )
        results = []
        for invoice in queryset.order_by("pk"):
            try:
                invoice_void(
                    invoice=invoice, reason=reason, now=timezone.now(), actor=staff_user(request)
                )
                results.append((invoice, "voided; credits drawn were returned", True))
            except AppError as exc:
                results.append((invoice, f"not voided: {exc.message}", False))
        return self._results(request, "Void: results", results)

    @admin.action(description="Credit in full (credit note, with a reason)", permissions=["change"])
    def credit_in_full(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse:
        reason = request.POST.get("reason", "").strip()
        outcome = request.POST.get("outcome", "")
        outcomes = manual_outcomes()  # refund notes come from the refund workflow
        if "confirm" not in request.POST or not reason or outcome not in dict(outcomes):
            return self._confirm(
                request,
                queryset,
                action="credit_in_full",
                title="Issue full credit notes for these invoices?",
                needs_reason=True,
                outcomes=outcomes,
            )
        results = []
        for invoice in queryset.order_by("pk"):
            try:
                note = credit_note_create(
                    invoice=invoice, reason=reason, outcome=outcome, actor=staff_user(request)
                )
                total = amount_of(note.total)
                results.append((invoice, f"credit note {note.number} for {total}", True))
            except AppError as exc:
                results.append((invoice, f"no credit note: {exc.message}", False))
        return self._results(request, "Credit notes: results", results)


class CreditNoteLineInline(_ReadOnlyInline):
    model = CreditNoteLine
    fields = ("invoice_line", "description", "amount")
    readonly_fields = fields


@admin.register(CreditNote)
class CreditNoteAdmin(SimpleHistoryAdmin):
    list_display = (
        "number",
        "invoice",
        "customer",
        "outcome",
        "total",
        "created_by",
        "created_at",
    )
    list_filter = ("outcome", "invoice__currency", "invoice__status", "created_at")
    list_select_related = ("invoice__customer", "created_by")
    search_fields = (
        "number",
        "invoice__number",
        "invoice__customer__external_id",
        "invoice__customer__name",
        "reason",
    )
    date_hierarchy = "created_at"
    fields = (
        "number",
        "invoice",
        "customer",
        "outcome",
        "total",
        "currency",
        "reason",
        "credit_grant",
        "created_by",
        "created_at",
        "amount_due",
        "pdf_link",
    )
    readonly_fields = fields
    inlines = [CreditNoteLineInline]

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.pdf_view)
        pdf = path("<int:note_id>/pdf/", view, name="invoicing_creditnote_pdf")
        return [pdf, *super().get_urls()]

    def pdf_view(self, request: HttpRequest, note_id: int) -> HttpResponse:
        """The credit note as PDF, for whoever may view it here (rendered on request)."""
        if not self.has_view_permission(request):  # before the lookup: no 404 hint
            raise PermissionDenied
        note = CreditNote.objects.select_related("invoice__customer").filter(pk=note_id).first()
        if note is None:
            raise Http404("No such credit note.")
        if not self.has_view_permission(request, note):
            raise PermissionDenied
        response = HttpResponse(credit_note_pdf_render(note), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{note.number}.pdf"'
        return response

    @admin.display(description="PDF")
    def pdf_link(self, obj: CreditNote) -> str:
        url = reverse("admin:invoicing_creditnote_pdf", args=[obj.pk])
        return format_html('<a href="{}">{}.pdf</a>', url, obj.number)

    @admin.display(description="Customer", ordering="invoice__customer__external_id")
    def customer(self, obj: CreditNote) -> Any:
        return obj.invoice.customer

    @admin.display(description="Currency")
    def currency(self, obj: CreditNote) -> str:
        return obj.invoice.currency

    @admin.display(description="Invoice's amount due now")
    def amount_due(self, obj: CreditNote) -> str:
        return money_text(invoice_amount_due(obj.invoice), obj.invoice.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
