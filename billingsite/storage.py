"""Static files storage for production: whitenoise's compressed, hashed files, but a file
missing from the manifest degrades to its plain URL (a 404 for that one asset) instead of a
ValueError that turns the whole page into a 500. Charts are drawn from tables that stay on the
page, so a usage page without Chart.js still reads fine."""

from __future__ import annotations

import logging

from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger(__name__)


class ForgivingManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            # Not in the manifest and not on disk either (e.g. Chart.js was never vendored
            # before collectstatic): serve the plain name and say what is missing.
            logger.warning("static file missing from the manifest: %s", name)
            return name
