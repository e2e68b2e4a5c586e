"""Read-only list of recorded invariant runs, each with its per-check results."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from billingsite.admin_readonly import ReadOnlyAdmin
from billingsite.invariant_runs.models import InvariantRun


@admin.register(InvariantRun)
class InvariantRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "trigger", "checks", "failed", "finished_at")
    list_filter = ("trigger",)
    ordering = ("-started_at", "-id")
    fields = ("started_at", "finished_at", "trigger", "checks", "failed", "check_results")
    readonly_fields = fields

    @admin.display(description="results")
    def check_results(self, obj: InvariantRun) -> str:
        return format_html_join(
            "",
            "<p><strong>{}</strong> ({}): {}</p>",
            (
                (
                    r["name"],
                    r["title"],
                    r["error"] or f"{r['violations']} violation(s) " + "; ".join(r["sample"]),
                )
                for r in obj.results
            ),
        )
