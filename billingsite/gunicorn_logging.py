"""gunicorn's logger with URL credentials (usage-link and password-reset tokens) redacted from
the access log (request line, URL, referer and every header atom) and the error log."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from billingsite.log_redaction import RedactUrlSecretsFilter


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            log.addFilter(RedactUrlSecretsFilter())
