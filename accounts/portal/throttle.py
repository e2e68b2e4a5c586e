"""Attempt limits on the customers' sign-in and password-reset forms (``accounts.attempts``).

- Sign-in: per username and per client address. Each attempt is reserved before the password
  is checked; a success clears the username's counter and gives the address its attempt back,
  so only failures add up. Past a limit: the 429 page, whatever the password.
- Password-reset requests: per email address and per client address, every request counts
  (a success cannot be told apart without revealing whether the account exists).

The 429 page says when to try again and nothing about the account: unknown usernames and
addresses are counted and locked exactly like real ones. Refusals are logged with the address
and the identifier's fingerprint, never the identifier or a password.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts import attempts
from accounts.attempts import Subject, Verdict
from accounts.portal.access import client_ip

logger = logging.getLogger(__name__)

SIGN_IN, PASSWORD_RESET = "sign-in", "password-reset"
_SETTINGS = {
    SIGN_IN: ("USAGE_SIGN_IN_LIMIT_PER_USERNAME", "USAGE_SIGN_IN_LIMIT_PER_IP"),
    PASSWORD_RESET: ("USAGE_PASSWORD_RESET_LIMIT_PER_EMAIL", "USAGE_PASSWORD_RESET_LIMIT_PER_IP"),
}
_WHAT = {SIGN_IN: "sign-in attempts", PASSWORD_RESET: "password reset requests"}


def form_subjects(
    action: str, request: HttpRequest, identifier: str
) -> tuple[list[Subject], Subject | None]:
    """(every subject of this form's limits, the identifier's own subject or None)."""
    account_setting, ip_setting = _SETTINGS[action]
    account = attempts.configured_limit(f"{action}:account", account_setting)
    ip = attempts.configured_limit(f"{action}:ip", ip_setting)
    items = attempts.subjects((account, identifier), (ip, client_ip(request)))
    own = next((s for s in items if s.limit is account), None)
    return items, own


def refused_page(action: str, request: HttpRequest, verdict: Verdict) -> HttpResponse:
    """The 429 page: when to try again, nothing about the account. Logs the refusal."""
    subject = verdict.subject
    logger.warning(
        "usage %s refused: too many attempts",
        action,
        extra={
            "event": "auth_throttled",
            "action": action,
            "ip": client_ip(request),
            "limit": subject.limit.name if subject else "",
            "subject": subject.digest if subject else "",
            "retry_after_seconds": verdict.retry_after,
        },
    )
    until = timezone.now() + timedelta(seconds=verdict.retry_after)
    minutes = max(1, -(-verdict.retry_after // 60))
    response = render(
        request,
        "usage/throttled.html",
        {
            "what": _WHAT[action],
            "minutes": minutes,
            "until": until,
            "retry_after": verdict.retry_after,
            "action": action,
        },
        status=429,
    )
    response["Retry-After"] = str(verdict.retry_after)
    response["Cache-Control"] = "no-store"
    return response
