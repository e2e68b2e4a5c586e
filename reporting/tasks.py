"""Celery tasks of reporting: the nightly incremental export (beat: ``reporting-exports``)."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from django.conf import settings

from reporting.services import export_all_incremental


@shared_task(name="reporting.exports_nightly", time_limit=3 * 3600, soft_time_limit=3 * 3600 - 60)
def exports_nightly() -> int:
    """Export every dataset's new and changed rows into ``REPORTING_EXPORT_DIR`` (off when
    empty). Returns the number of rows written."""
    if not settings.REPORTING_EXPORT_DIR:
        return 0
    results = export_all_incremental(
        out_dir=Path(settings.REPORTING_EXPORT_DIR), formats=list(settings.REPORTING_EXPORT_FORMATS)
    )
    return sum(r.written.rows for r in results if r.written is not None)
