"""Dispute admin: the queue (due soonest first), assignment, the evidence page (packet built
from our data, Stripe's evidence fields, save a draft, submit with confirmation), notes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.display import money_text as money
from billingsite.errors import AppError
from billingsite.staff import staff_user
from disputes.admin.forms import EvidenceForm, NoteForm
from disputes.models import Dispute, DisputeEvidenceSubmission, DisputeNote
from disputes.selectors import evidence_draft, evidence_packet
from disputes.services.disputes import dispute_assign, dispute_evidence_save, dispute_note_add


class DueFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Open"), ("mine", "Open, assigned to me"), ("closed", "Closed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        from disputes.states import DISPUTE_OPEN

        if self.value() == "yes":
            return queryset.filter(status__in=DISPUTE_OPEN)
        if self.value() == "mine":
            return queryset.filter(status__in=DISPUTE_OPEN, assignee=staff_user(request))
        if self.value() == "closed":
            return queryset.exclude(status__in=DISPUTE_OPEN)
        return queryset


class NoteInline(admin.TabularInline):
    model = DisputeNote
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubmissionInline(admin.TabularInline):
    model = DisputeEvidenceSubmission
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "submit", "outbox_key")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Dispute)
class DisputeAdmin(SimpleHistoryAdmin):
    list_display = (
        "stripe_id",
        "customer",
        "amount",
        "reason",
        "status",
        "due_by",
        "assignee",
        "evidence_submitted_at",
        "evidence_link",
    )
    list_filter = (DueFilter, "status", "reason")
    search_fields = ("stripe_id", "stripe_charge_id", "customer__external_id", "customer__name")
    ordering = ("due_by", "pk")
    actions = ["assign_to_me"]
    inlines = [NoteInline, SubmissionInline]
    readonly_fields = (
        *(f.name for f in Dispute._meta.fields if f.name != "assignee"),
        "evidence_link",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # disputes come from Stripe

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Dispute, form: Any, change: bool) -> None:
        dispute_assign(dispute=obj, assignee=obj.assignee, actor=staff_user(request))

    @admin.display(description="Evidence")
    def evidence_link(self, obj: Dispute) -> str:
        return format_html(
            '<a href="{}">Evidence packet…</a>',
            reverse("admin:disputes_dispute_evidence", args=[obj.pk]),
        )

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        try:
            for dispute in queryset:
                dispute_assign(
                    dispute=dispute, assignee=staff_user(request), actor=staff_user(request)
                )
        except AppError as exc:
            messages.error(request, exc.message)
            return
        messages.success(request, f"{queryset.count()} dispute(s) assigned to you.")

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:dispute_id>/evidence/",
                view(self.evidence_view),
                name="disputes_dispute_evidence",
            ),
            path(
                "<int:dispute_id>/evidence/submit/",
                view(self.submit_view),
                name="disputes_dispute_submit",
            ),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, dispute: Dispute, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Dispute {dispute.stripe_id}",
            "dispute": dispute,
            **extra,
        }

    def evidence_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        # permissions before the lookup, so a refused user cannot tell which disputes exist
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and not request.user.has_perm("disputes.work_dispute"):
            raise PermissionDenied
        dispute: Dispute = get_object_or_404(
            Dispute.objects.select_related(
                "customer", "invoice__contract__plan_version", "payment", "assignee"
            ),
            pk=dispute_id,
        )
        packet = evidence_packet(dispute)
        form = EvidenceForm(request.POST or None, initial=evidence_draft(packet))
        note_form = NoteForm(request.POST if "add_note" in request.POST else None)
        if request.method == "POST":
            try:
                if "add_note" in request.POST and note_form.is_valid():
                    dispute_note_add(
                        dispute=dispute,
                        body=note_form.cleaned_data["body"],
                        actor=staff_user(request),
                    )
                    messages.success(request, "Note added.")
                    return HttpResponseRedirect(request.path)
                if "save_draft" in request.POST and form.is_valid():
                    dispute_evidence_save(
                        dispute=dispute,
                        evidence=form.evidence(),
                        submit=False,
                        actor=staff_user(request),
                    )
                    messages.success(
                        request, "Draft saved; it is being sent to Stripe (not submitted)."
                    )
                    return HttpResponseRedirect(request.path)
                if "review_submit" in request.POST and form.is_valid():
                    return TemplateResponse(
                        request,
                        "disputes/admin/evidence_confirm.html",
                        self._context(request, dispute, evidence=form.evidence()),
                    )
            except AppError as exc:
                messages.error(request, exc.message)
        return TemplateResponse(
            request,
            "disputes/admin/evidence.html",
            self._context(
                request,
                dispute,
                packet=packet,
                form=form,
                note_form=NoteForm(),
                now=timezone.now(),
                amount=money(dispute.amount, dispute.currency),
            ),
        )

    def submit_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        if not request.user.has_perm("disputes.work_dispute"):  # before the lookup
            raise PermissionDenied
        dispute: Dispute = get_object_or_404(Dispute, pk=dispute_id)
        if request.method != "POST" or request.POST.get("confirm") != "yes":
            return HttpResponseRedirect(
                reverse("admin:disputes_dispute_evidence", args=[dispute.pk])
            )
        form = EvidenceForm(request.POST)
        form.is_valid()
        try:
            dispute_evidence_save(
                dispute=dispute, evidence=form.evidence(), submit=True, actor=staff_user(request)
            )
            messages.success(request, "Evidence submitted: it is being sent to Stripe.")
        except AppError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("admin:disputes_dispute_evidence", args=[dispute.pk]))
