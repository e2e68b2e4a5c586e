"""Refund admin: list with filters and audit, request from a payment or invoice, approve /
reject / cancel with confirmation, SLA batch upload (dry run first), reports (HTML and CSV)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.errors import AppError
from billingsite.staff import staff_user
from disputes.admin.forms import PeriodForm, RefundRequestForm, RejectForm, SlaBatchForm
from disputes.admin.refund_words import (
    decided_message,
    next_step,
    refund_amount,
    requested_message,
)
from disputes.models import Refund, RefundTransition
from disputes.selectors import report
from disputes.services.automated import refund_voided_invoice, sla_batch
from disputes.services.refunds import (
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_request,
    refundable_amount,
)
from disputes.states import RefundStatus
from invoicing.models import Invoice, Payment, PaymentStatus
from invoicing.stripe.config import not_configured_notice, stripe_configured

# Who may take each decision on the refund page; checked before the refund is looked up.
DECISION_PERMISSIONS = {
    "approve": "disputes.approve_refund",
    "reject": "disputes.approve_refund",
    "cancel": "disputes.request_refund",
}


class RefundTransitionInline(admin.TabularInline):
    model = RefundTransition
    extra = 0
    can_delete = False
    fields = ("at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Refund)
class RefundAdmin(SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "customer",
        "invoice",
        "reason",
        "status",
        "requested_by",
        "approved_by",
        "created_at",
    )
    list_filter = ("status", "reason", "source", "needs_approval")
    search_fields = (
        "stripe_refund_id",
        "payment__stripe_charge_id",
        "customer__external_id",
        "customer__name",
    )
    inlines = [RefundTransitionInline]
    fieldsets = (
        ("Status", {"fields": ("status", "next_step", "actions_links")}),
        ("Refund", {"fields": ("amount", "reason", "reason_text", "internal_note", "lines")}),
        (
            "Where it comes from",
            {
                "fields": (
                    "customer",
                    "invoice",
                    "payment",
                    "source",
                    "batch_ref",
                    "requested_by",
                    "created_at",
                    "needs_approval",
                    "approved_by",
                )
            },
        ),
        ("Stripe", {"fields": ("stripe_refund_id", "failure_reason", "settled_at", "credit_note")}),
    )
    readonly_fields = tuple(f for _, opts in fieldsets for f in opts["fields"])
    # shown only when they hold something: a refund waiting for approval has no Stripe id,
    # settlement time or credit note yet, and blank rows read as forms left unfilled
    _hide_when_empty = frozenset(
        {
            "lines",
            "reason_text",
            "internal_note",
            "batch_ref",
            "approved_by",
            "stripe_refund_id",
            "failure_reason",
            "settled_at",
            "credit_note",
        }
    )
    change_list_template = "disputes/admin/refund_changelist.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # refunds are requested from a payment ("Request a refund")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # nothing on a refund is edited by hand: it moves through Approve / Reject / Cancel,
        # so its page is read-only for everyone (no Save buttons on a form with no inputs)
        return False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return super().get_fieldsets(request, obj)
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if self._shown(obj, f)]})
            for name, opts in self.fieldsets
        ]

    def _shown(self, obj: Refund, field: str) -> bool:
        if field == "actions_links":
            return obj.status == RefundStatus.REQUESTED
        return field not in self._hide_when_empty or getattr(obj, field) not in (None, "", {})

    @admin.display(description="Next step")
    def next_step(self, obj: Refund) -> str:
        return next_step(obj)

    @admin.display(description="Actions")
    def actions_links(self, obj: Refund) -> str:
        if obj.status != "requested":
            return "-"
        return format_html(
            '<a class="button" href="{}">Approve…</a> <a class="button" href="{}">Reject…</a> '
            '<a class="button" href="{}">Cancel…</a>',
            reverse("admin:disputes_refund_decide", args=[obj.pk, "approve"]),
            reverse("admin:disputes_refund_decide", args=[obj.pk, "reject"]),
            reverse("admin:disputes_refund_decide", args=[obj.pk, "cancel"]),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        waiting = Refund.objects.filter(pk=object_id, status=RefundStatus.APPROVED).exists()
        if waiting and not stripe_configured():
            messages.warning(request, not_configured_notice("this refund"))
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "request/<int:payment_id>/", view(self.request_view), name="disputes_refund_request"
            ),
            path(
                "request/invoice/<int:invoice_id>/",
                view(self.request_for_invoice),
                name="disputes_refund_request_invoice",
            ),
            path(
                "<int:refund_id>/decide/<str:decision>/",
                view(self.decide_view),
                name="disputes_refund_decide",
            ),
            path(
                "void-paid/<int:invoice_id>/",
                view(self.void_paid_view),
                name="disputes_refund_void_paid",
            ),
            path("sla-batch/", view(self.sla_batch_view), name="disputes_refund_sla_batch"),
            path("reports/", view(self.reports_view), name="disputes_refund_reports"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **extra}

    def request_for_invoice(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        if not request.user.has_perm("disputes.request_refund"):  # before the lookup
            raise PermissionDenied
        payment = (
            Payment.objects.filter(invoice_id=invoice_id, status=PaymentStatus.SUCCEEDED)
            .order_by("-pk")
            .first()
        )
        if payment is None:
            messages.error(request, "This invoice has no captured payment to refund.")
            return HttpResponseRedirect(
                reverse("admin:invoicing_invoice_change", args=[invoice_id])
            )
        return HttpResponseRedirect(reverse("admin:disputes_refund_request", args=[payment.pk]))

    def request_view(self, request: HttpRequest, payment_id: int) -> HttpResponse:
        if not request.user.has_perm("disputes.request_refund"):
            raise PermissionDenied
        payment: Payment = get_object_or_404(
            Payment.objects.select_related("invoice", "customer"), pk=payment_id
        )
        form = RefundRequestForm(request.POST or None, payment=payment)
        if request.method == "POST" and form.is_valid():
            try:
                refund = refund_request(
                    payment=payment,
                    amount=form.cleaned_data["amount"],
                    lines=form.lines(),
                    reason=form.cleaned_data["reason"],
                    reason_text=form.cleaned_data["reason_text"],
                    internal_note=form.cleaned_data["internal_note"],
                    actor=staff_user(request),
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, requested_message(refund))
                return HttpResponseRedirect(
                    reverse("admin:disputes_refund_change", args=[refund.pk])
                )
        return TemplateResponse(
            request,
            "disputes/admin/refund_request.html",
            self._context(
                request,
                f"Refund payment {payment}",
                payment=payment,
                form=form,
                refundable=refundable_amount(payment),
            ),
        )

    def decide_view(self, request: HttpRequest, refund_id: int, decision: str) -> HttpResponse:
        # who may take this decision, before the lookup (no 404 hint for a refused user)
        needed = DECISION_PERMISSIONS.get(decision)
        if needed is None or not request.user.has_perm(needed):
            raise PermissionDenied
        refund = get_object_or_404(Refund, pk=refund_id)
        form = RejectForm(request.POST or None) if decision == "reject" else None
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                if decision == "approve":
                    refund_approve(refund=refund, actor=staff_user(request))
                elif decision == "reject":
                    refund_reject(
                        refund=refund,
                        actor=staff_user(request),
                        note=form.cleaned_data["note"] if form else "",
                    )
                else:
                    refund_cancel(refund=refund, actor=staff_user(request))
                refund.refresh_from_db()
                messages.success(request, decided_message(refund, decision))
            except AppError as exc:
                messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("admin:disputes_refund_change", args=[refund.pk]))
        return TemplateResponse(
            request,
            "disputes/admin/refund_decide.html",
            self._context(
                request,
                f"{decision.capitalize()} the refund of {refund_amount(refund)}",
                refund=refund,
                decision=decision,
                form=form,
            ),
        )

    def void_paid_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        """Finance voids a paid invoice: every payment refunded in full (confirmation)."""
        if not request.user.has_perm("disputes.approve_refund"):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=invoice_id)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                refunds = refund_voided_invoice(
                    invoice=invoice, reason=form.cleaned_data["note"], actor=staff_user(request)
                )
            except AppError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"{len(refunds)} refund(s) requested for {invoice}.")
                return HttpResponseRedirect(reverse("admin:disputes_refund_changelist"))
        return TemplateResponse(
            request,
            "disputes/admin/void_paid.html",
            self._context(request, f"Void paid invoice {invoice}", invoice=invoice, form=form),
        )

    def sla_batch_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("disputes.request_refund"):
            raise PermissionDenied
        form = SlaBatchForm(request.POST or None, request.FILES or None)
        rows = None
        if request.method == "POST" and form.is_valid():
            content = form.cleaned_data["file"].read().decode("utf-8", errors="replace")
            try:
                rows = sla_batch(
                    content=content,
                    batch_ref=form.cleaned_data["batch_ref"],
                    actor=staff_user(request),
                    apply=form.cleaned_data["apply"],
                )
            except AppError as exc:
                form.add_error("file", exc.message)
        return TemplateResponse(
            request,
            "disputes/admin/sla_batch.html",
            self._context(request, "SLA credit refunds from a CSV", form=form, rows=rows),
        )

    def reports_view(self, request: HttpRequest) -> HttpResponse:
        today = timezone.now().date()
        form = PeriodForm(
            request.GET or {"start": today.replace(day=1), "end": today + timedelta(days=1)}
        )
        data = None
        if form.is_valid():
            start = datetime.combine(form.cleaned_data["start"], time(), tzinfo=UTC)
            end = datetime.combine(form.cleaned_data["end"], time(), tzinfo=UTC)
            data = report(start, end)
            if request.GET.get("format") == "csv":
                return report_csv(data)
        return TemplateResponse(
            request,
            "disputes/admin/reports.html",
            self._context(request, "Refunds and disputes report", form=form, report=data),
        )


def report_csv(data: Any) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="disputes-report-{data.start:%Y%m%d}-{data.end:%Y%m%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(["section", "key", "currency", "count", "value"])
    writer.writerow(["payments", "succeeded", "", data.payments, ""])
    writer.writerow(["disputes", "opened", "", data.disputes, ""])
    writer.writerow(["disputes", "dispute_rate", "", "", data.dispute_rate])
    writer.writerow(["disputes", "won", "", data.won, ""])
    writer.writerow(["disputes", "lost", "", data.lost, ""])
    writer.writerow(
        ["disputes", "win_rate", "", "", "" if data.win_rate is None else data.win_rate]
    )
    for row in data.refunds_by_reason:
        writer.writerow(
            ["refunds_by_reason", row["reason"], row["currency"], row["count"], row["total"]]
        )
    for row in data.refunds_by_agent:
        writer.writerow(
            [
                "refunds_by_agent",
                row["requested_by__username"] or "(automated)",
                row["currency"],
                row["count"],
                row["total"],
            ]
        )
    return response
