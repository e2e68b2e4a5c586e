"""Corrections from the invoice admin, for users who may change invoices (Finance, Admin):

- "Void and re-issue" and "Re-issue voided invoices": bulk actions with a confirmation page
  (a reason to void, "issue the replacements now") and a result per invoice;
- "Re-issue…" / "Void and re-issue…" buttons on an invoice's page, with the same choices;
- "Issue a credit note…": full or by line, with a preview of the effect (what is owed after,
  or the credit grant it becomes) before anything is written.

Support sees the outcome (transitions, history, replaces/replaced-by links) but no buttons and
no actions. Credit notes that feed a refund are issued by the refund workflow ("Request a
refund") when Stripe confirms the refund, so they are not offered here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from billingsite.admin_links import register_object_link
from billingsite.display import money_text as money
from billingsite.errors import AppError
from billingsite.money import amount_of
from billingsite.staff import staff_user
from invoicing.models import CreditNoteOutcome, Invoice
from invoicing.services.corrections import invoice_replace
from invoicing.services.credit_notes import (
    CREDITABLE,
    credit_note_create,
    credited_by_line,
    invoice_amount_due,
)
from invoicing.states import InvoiceStatus

CHANGE_INVOICE = "invoicing.change_invoice"
VOIDABLE = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.FINALIZED,
    InvoiceStatus.PAST_DUE,
    InvoiceStatus.UNCOLLECTIBLE,
)
MAX_REASON_LENGTH = 2000


def manual_outcomes(invoice: Invoice | None = None) -> list[tuple[str, str]]:
    """Outcomes Finance picks by hand: reducing the amount due needs an unpaid invoice."""
    allowed = [CreditNoteOutcome.CUSTOMER_CREDIT]
    if invoice is None or invoice.status != InvoiceStatus.PAID:
        allowed.insert(0, CreditNoteOutcome.REDUCE_AMOUNT_DUE)
    return [(o.value, o.label) for o in allowed]


def replacement_message(replacement: Invoice) -> str:
    if replacement.status == InvoiceStatus.DRAFT:
        return (
            f"replacement draft #{replacement.pk} created; the next billing run issues it "
            "(or use Finalize now)"
        )
    total = money(replacement.total, replacement.currency)
    return f"re-issued as {replacement.number} ({total})"


class ReissueForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label="Why it is voided (required, kept in the audit trail)",
    )
    finalize = forms.BooleanField(
        required=False, initial=True, label="Issue the replacement now (number, PDF, Stripe)"
    )

    def __init__(self, *args: Any, needs_reason: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = needs_reason
        if not needs_reason:
            del self.fields["reason"]


class CreditNoteForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label="Reason (required, shown to the customer and audited)",
    )
    outcome = forms.ChoiceField(label="Where the credit goes")
    full = forms.BooleanField(required=False, label="Credit everything still creditable")

    def __init__(self, *args: Any, invoice: Invoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        outcome = self.fields["outcome"]
        assert isinstance(outcome, forms.ChoiceField)
        outcome.choices = manual_outcomes(invoice)
        already = credited_by_line(invoice)
        self.line_fields: list[tuple[str, Any, Decimal]] = []
        for line in invoice.lines.filter(amount__gt=0).order_by("position"):
            left = amount_of(line.amount) - already.get(line.pk, Decimal(0))
            name = f"line_{line.pk}"
            self.fields[name] = forms.DecimalField(
                required=False,
                min_value=Decimal("0.0001"),
                max_digits=24,
                decimal_places=4,
                label=f"{line.description} ({money(left, invoice.currency)} of "
                f"{money(line.amount, invoice.currency)} left)",
                disabled=left <= 0,
            )
            self.line_fields.append((name, line, left))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        chosen = [name for name, _line, _left in self.line_fields if data.get(name)]
        if data.get("full") and chosen:
            raise forms.ValidationError("Either credit everything or give line amounts.")
        if not data.get("full") and not chosen:
            raise forms.ValidationError(
                "Tick “Credit everything” or give at least one line amount."
            )
        return data

    def lines(self) -> dict[int, Decimal] | None:
        if self.cleaned_data.get("full"):
            return None
        return {
            line.pk: self.cleaned_data[name]
            for name, line, _left in self.line_fields
            if self.cleaned_data.get(name)
        }


class _Preview(Exception):
    """Rolls back a credit note made only to show its effect."""


def credit_note_preview(invoice: Invoice, form: CreditNoteForm) -> dict[str, Any]:
    """What the note would credit and do, computed by the service itself in a transaction
    that is rolled back, so the preview and the real note cannot disagree."""
    due_before = invoice_amount_due(invoice)
    effect: dict[str, Any] = {}
    try:
        with transaction.atomic():
            note = credit_note_create(
                invoice=invoice,
                reason=form.cleaned_data["reason"],
                outcome=form.cleaned_data["outcome"],
                lines=form.lines(),
            )
            currency = invoice.currency
            effect = {
                "total": money(note.total, currency),
                "due_before": money(due_before, currency),
                "due_after": money(invoice_amount_due(invoice), currency),
                "lines": [
                    (line.description, money(line.amount, currency)) for line in note.lines.all()
                ],
            }
            raise _Preview
    except _Preview:
        pass
    return effect


class InvoiceCorrectionsMixin:
    """Mixed into ``InvoiceAdmin``: the corrections' actions, pages and URLs."""

    admin_site: admin.AdminSite
    opts: Any

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:invoice_id>/reissue/",
                view(self.reissue_view),
                name="invoicing_invoice_reissue",
            ),
            path(
                "<int:invoice_id>/credit-note/",
                view(self.credit_note_view),
                name="invoicing_invoice_credit_note",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **extra}

    def _require_change(self, request: HttpRequest) -> None:
        if not request.user.has_perm(CHANGE_INVOICE):
            raise PermissionDenied

    # Bulk actions ------------------------------------------------------------------------

    def _replace_each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Invoice],
        *,
        void_reason: str | None,
        finalize: bool,
    ) -> list[tuple[Invoice, str, bool]]:
        results = []
        for invoice in queryset.select_related("customer").order_by("pk"):
            try:
                replacement = invoice_replace(
                    invoice=invoice,
                    now=timezone.now(),
                    actor=staff_user(request),
                    void_reason=void_reason,
                    finalize=finalize,
                )
                done = "voided; " if void_reason is not None else ""
                results.append((invoice, done + replacement_message(replacement), True))
            except AppError as exc:
                hint = (
                    " A paid invoice is voided by refunding it in full (disputes)."
                    if invoice.status == InvoiceStatus.PAID
                    else ""
                )
                results.append((invoice, f"not re-issued: {exc.message}{hint}", False))
        return results

    @admin.action(description="Void and re-issue (with a reason)", permissions=["change"])
    def void_and_reissue(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse:
        reason = request.POST.get("reason", "").strip()
        if "confirm" not in request.POST or not reason:
            return self._confirm(  # type: ignore[attr-defined]
                request,
                queryset,
                action="void_and_reissue",
                needs_reason=True,
                title="Void these invoices and issue replacements?",
                offers_finalize=True,
            )
        results = self._replace_each(
            request, queryset, void_reason=reason, finalize=bool(request.POST.get("finalize"))
        )
        return self._results(request, "Void and re-issue: results", results)  # type: ignore[attr-defined]

    @admin.action(description="Re-issue voided invoices", permissions=["change"])
    def reissue_voided(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse:
        if "confirm" not in request.POST:
            return self._confirm(  # type: ignore[attr-defined]
                request,
                queryset,
                action="reissue_voided",
                needs_reason=False,
                title="Issue replacements for these voided invoices?",
                offers_finalize=True,
            )
        results = self._replace_each(
            request, queryset, void_reason=None, finalize=bool(request.POST.get("finalize"))
        )
        return self._results(request, "Re-issue: results", results)  # type: ignore[attr-defined]

    # Object pages ------------------------------------------------------------------------

    def reissue_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        self._require_change(request)
        invoice: Invoice = get_object_or_404(
            Invoice.objects.select_related("customer"), pk=invoice_id
        )
        needs_void = invoice.status != InvoiceStatus.VOID
        form = ReissueForm(request.POST or None, needs_reason=needs_void)
        if request.method == "POST" and form.is_valid():
            try:
                replacement = invoice_replace(
                    invoice=invoice,
                    now=timezone.now(),
                    actor=staff_user(request),
                    finalize=form.cleaned_data["finalize"],
                    void_reason=form.cleaned_data["reason"] if needs_void else None,
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{invoice}: {replacement_message(replacement)}.")
                return HttpResponseRedirect(
                    reverse("admin:invoicing_invoice_change", args=[replacement.pk])
                )
        title = f"Void and re-issue {invoice}" if needs_void else f"Re-issue {invoice}"
        return TemplateResponse(
            request,
            "invoicing/admin/invoice_reissue.html",
            self._context(
                request,
                title,
                invoice=invoice,
                form=form,
                needs_void=needs_void,
                total=money(invoice.total, invoice.currency),
            ),
        )

    def credit_note_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        self._require_change(request)
        invoice: Invoice = get_object_or_404(
            Invoice.objects.select_related("customer"), pk=invoice_id
        )
        form = CreditNoteForm(request.POST or None, invoice=invoice)
        effect = None
        if request.method == "POST" and "edit" not in request.POST and form.is_valid():
            try:
                if "issue" in request.POST:
                    note = credit_note_create(
                        invoice=invoice,
                        reason=form.cleaned_data["reason"],
                        outcome=form.cleaned_data["outcome"],
                        lines=form.lines(),
                        actor=staff_user(request),
                    )
                    messages.success(
                        request,
                        f"Credit note {note.number} issued for "
                        f"{money(note.total, invoice.currency)}.",
                    )
                    return HttpResponseRedirect(
                        reverse("admin:invoicing_creditnote_change", args=[note.pk])
                    )
                effect = credit_note_preview(invoice, form)
            except AppError as exc:
                _form_errors(form, exc)
        return TemplateResponse(
            request,
            "invoicing/admin/credit_note_create.html",
            self._context(
                request,
                f"Credit note for {invoice}",
                invoice=invoice,
                form=form,
                effect=effect,
                amount_due=money(invoice_amount_due(invoice), invoice.currency),
                total=money(invoice.total, invoice.currency),
                paid=invoice.status == InvoiceStatus.PAID,
            ),
        )


def _form_errors(form: CreditNoteForm, exc: AppError) -> None:
    """The service's message, and each problem next to its line (``lines.<id>``) if shown."""
    form.add_error(None, exc.message)
    details = exc.details if isinstance(exc.details, dict) else {}
    for key, problem in details.items():
        name = "line_" + key.split(".", 1)[1] if key.startswith("lines.") else key
        if name in form.fields and name in form.cleaned_data:
            form.add_error(name, str(problem))
        else:
            form.add_error(None, str(problem))


def _reissue_url(invoice: Invoice) -> str | None:
    if invoice.status != InvoiceStatus.VOID or Invoice.objects.filter(replaces=invoice).exists():
        return None
    return reverse("admin:invoicing_invoice_reissue", args=[invoice.pk])


def _void_and_reissue_url(invoice: Invoice) -> str | None:
    if invoice.status not in (
        InvoiceStatus.FINALIZED,
        InvoiceStatus.PAST_DUE,
        InvoiceStatus.UNCOLLECTIBLE,
    ):
        return None
    return reverse("admin:invoicing_invoice_reissue", args=[invoice.pk])


def _credit_note_url(invoice: Invoice) -> str | None:
    if invoice.status not in CREDITABLE:
        return None
    return reverse("admin:invoicing_invoice_credit_note", args=[invoice.pk])


register_object_link("invoicing.invoice", "Re-issue…", _reissue_url, permission=CHANGE_INVOICE)
register_object_link(
    "invoicing.invoice", "Void and re-issue…", _void_and_reissue_url, permission=CHANGE_INVOICE
)
register_object_link(
    "invoicing.invoice", "Issue a credit note…", _credit_note_url, permission=CHANGE_INVOICE
)
