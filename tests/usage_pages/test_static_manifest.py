"""In production, static URLs come from whitenoise's manifest. A file missing from it (Chart.js
not vendored before collectstatic) must cost that one asset, not turn the page into a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.usage_pages.conftest import World

pytestmark = pytest.mark.django_db

# What settings.py selects when DEBUG and TALLY_TESTING are off.
PRODUCTION_STORAGE = "billingsite.storage.ForgivingManifestStaticFilesStorage"


def test_a_chart_page_renders_when_chart_js_is_missing_from_the_manifest(
    world: World, acme_client: Client, tmp_path: Path
) -> None:
    manifest = {"version": "1.1", "hash": "0", "paths": {"usage/charts.js": "usage/charts.1a.js"}}
    (tmp_path / "staticfiles.json").write_text(json.dumps(manifest))
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STORAGE}}
    with override_settings(STORAGES=storages, STATIC_ROOT=tmp_path, DEBUG=False):
        response = acme_client.get("/usage/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<script src="/static/usage/charts.1a.js"' in page  # from the manifest
    assert '<script src="/static/vendor/chart.js/chart.umd.min.js"' in page  # plain, degraded
    assert "<table" in page  # the chart's data still reads as a table
