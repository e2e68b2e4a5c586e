"""Redaction of credentials carried in URL paths, for every log Tally writes. No Django imports:
gunicorn's master process loads this before Django is set up."""

from __future__ import annotations

import logging
import re

# Bearer credentials that travel in URL paths: signed usage-link tokens (/usage/l/<token>/...)
# and password-reset links (/usage/password-reset/<uid>/<token>/). Anyone holding a log line
# with one could open the customer's pages, so no log line may carry them.
_SECRET_IN_PATH = re.compile(
    r"(/usage/l/)[^/?#\s\"'<>]+|(/usage/password-reset/)[^/?#\s\"'<>]+/[^/?#\s\"'<>]+"
)
REDACTED = "<redacted>"


def redact_url_secrets(text: str) -> str:
    """``text`` with every credential in a usage-link or password-reset path replaced."""
    return _SECRET_IN_PATH.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


class RedactUrlSecretsFilter(logging.Filter):
    """For loggers we do not format ourselves (gunicorn's access and error logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
