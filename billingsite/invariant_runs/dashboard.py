"""Admin dashboard panel: the latest invariant run (nightly, from beat)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from billingsite import dashboard
from billingsite.dashboard import Row, ago, register_panel
from billingsite.invariant_runs.services import latest_run

# The beat entry runs nightly: a latest run older than this means beat or the worker is down.
STALE_AFTER = timedelta(hours=26)


def latest_invariant_run(request: HttpRequest) -> Sequence[Row]:
    """One row per failing check of the latest run, or one row saying all passed."""
    run = latest_run()
    if run is None:
        return []
    rows = [
        Row(
            label=f"invariant {r['number']}: {r['title']}",
            detail=r["error"] or "; ".join(r["sample"][:2]),
            badge="error" if r["error"] else f"{r['violations']} violation(s)",
            tone="danger",
        )
        for r in run.failing
    ]
    if not rows:
        rows.append(Row(label=f"All {run.checks} checks passed", badge="ok", tone="ok"))
    stale = timezone.now() - run.started_at > STALE_AFTER
    rows.append(
        Row(
            label=f"Last run {ago(run.started_at)}",
            detail=f"{run.trigger}, {(run.finished_at - run.started_at).total_seconds():.0f} s",
            badge="stale" if stale else "",
            tone="warn" if stale else "",
        )
    )
    return rows


def register() -> None:
    # The Admin role's name comes from the app that owns the roles (set_roles): the base
    # imports no app.
    register_panel(
        dashboard.ADMIN_ROLE,
        "Invariant checks (nightly)",
        latest_invariant_run,
        key="billingsite.invariant_runs",
        permissions=("billingsite.view_invariantrun",),
        empty="No invariant run recorded yet (beat runs them nightly).",
        more_url="admin:billingsite_invariantrun_changelist",
        more_label="All runs",
        order=60,
    )
