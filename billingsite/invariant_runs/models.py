"""One recorded run of the invariant checks (kept ``INVARIANT_RUNS_KEEP_DAYS``)."""

from __future__ import annotations

from django.db import models


class InvariantRun(models.Model):
    """``results``: one ``{"name", "number", "title", "violations", "error", "sample",
    "seconds"}`` per check; ``violations`` is capped at the run's limit, ``sample`` lists the
    first few as ``"subject: detail"``, ``error`` is set when the check itself raised."""

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField()
    trigger = models.CharField(max_length=16, default="beat")
    checks = models.PositiveIntegerField()
    failed = models.PositiveIntegerField(help_text="Checks with violations or errors.")
    results = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"invariants {self.started_at:%Y-%m-%d %H:%M}: {self.failed}/{self.checks} failed"

    @property
    def failing(self) -> list[dict]:
        return [r for r in self.results if r["violations"] or r["error"]]
