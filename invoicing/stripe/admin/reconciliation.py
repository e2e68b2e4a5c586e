"""Reconciliation reports: runs with their counts and differences (read-only), and "run now":
Finance enqueues the reconciliation task for yesterday (button) or again for the periods of
selected runs (action, one line per run), instead of waiting for the nightly beat."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from billingsite.display import period_text
from billingsite.outbox.admin import action_results
from invoicing.models import ReconciliationDifference, ReconciliationRun
from invoicing.stripe.admin.objects import ReadOnlyAdmin

RUN_PERMISSION = "invoicing.change_invoice"  # Finance (and admins), as for webhook replay


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


def reconcile_enqueue(start: datetime | None = None, end: datetime | None = None) -> None:
    """Send the reconciliation task once the admin's transaction commits (no period =
    yesterday, UTC, as the nightly run)."""
    from invoicing.stripe.tasks import reconcile_task

    period = {"start": start.isoformat(), "end": end.isoformat()} if start and end else {}
    transaction.on_commit(lambda: reconcile_task.delay(trigger="admin", **period))


def _yesterday() -> tuple[datetime, datetime]:
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1), today


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
    actions = ["run_again"]
    change_list_template = "invoicing/admin/reconciliation_changelist.html"

    @admin.display(description="Differences")
    def difference_count(self, obj: ReconciliationRun) -> int:
        return obj.differences.count()

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RUN_PERMISSION)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        context = {"can_run_now": self.has_run_permission(request), **(extra_context or {})}
        return super().changelist_view(request, context)

    def get_urls(self) -> list[URLPattern]:
        run_now = self.admin_site.admin_view(self.run_now_view)
        return [
            path("run-now/", run_now, name="invoicing_reconciliationrun_run_now"),
            *super().get_urls(),
        ]

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_run_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        start, end = _yesterday()
        reconcile_enqueue(start, end)
        messages.success(
            request,
            f"Reconciliation of {period_text(start, end, 'UTC')} (UTC) queued; "
            "its run appears in this list when it finishes.",
        )
        return HttpResponseRedirect(reverse("admin:invoicing_reconciliationrun_changelist"))

    @admin.action(description="Run again now (same period)", permissions=["run"])
    def run_again(
        self, request: HttpRequest, queryset: QuerySet[ReconciliationRun]
    ) -> HttpResponse:
        results = []
        for run in queryset.order_by("period_start"):
            reconcile_enqueue(run.period_start, run.period_end)
            period = period_text(run.period_start, run.period_end, "UTC")
            results.append((run, f"Queued: {period} (UTC) is reconciled again as a new run."))
        return action_results(
            request, self, "Run again now: queued", results, object_label="Reconciliation run"
        )


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
