"""Writes for usage-page access: signed links and the sign-in log.

Invariants:
- A link token is ``TimestampSigner``-signed JSON naming the link row and its customer; the
  row's ``expires_at``/``revoked_at`` decide validity (checked by ``access.link_from_token``).
- Every entry to a customer's pages (password, link, staff "open as customer") writes one
  ``UsagePageSignIn`` row; repeated page views through the same link within
  ``LINK_SIGN_IN_DEDUPE`` from the same address count as one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core import signing
from django.db import transaction
from django.utils import timezone

from accounts.models import (
    ApiKey,
    Customer,
    UsageLink,
    UsageLinkPurpose,
    UsagePageSignIn,
    UsageSignInMethod,
)
from billingsite.errors import AppError

TOKEN_SALT = "tally.usage-link"  # noqa: S105 (a signing salt, not a secret)
MIN_LIFETIME = timedelta(minutes=1)
MAX_LIFETIME = timedelta(days=30)
DEFAULT_LIFETIME = timedelta(hours=24)
STAFF_LIFETIME = timedelta(hours=1)
LINK_SIGN_IN_DEDUPE = timedelta(minutes=30)
USER_AGENT_MAX = 400


@dataclass(frozen=True)
class IssuedLink:
    link: UsageLink
    token: str

    @property
    def expires_at(self) -> datetime:
        return self.link.expires_at


def link_token(link: UsageLink) -> str:
    return signing.TimestampSigner(salt=TOKEN_SALT).sign_object(
        {"l": link.pk, "c": link.customer_id}, compress=False
    )


@transaction.atomic
def usage_link_create(
    *,
    customer: Customer,
    purpose: str = UsageLinkPurpose.SHARED,
    lifetime: timedelta = DEFAULT_LIFETIME,
    created_by: User | None = None,
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> IssuedLink:
    """A read-only link to ``customer``'s usage pages, valid for ``lifetime`` from ``now``."""
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise AppError(
            "validation_error",
            "A usage link lives between 1 minute and 30 days.",
            details={"expires_in": "Seconds, from 60 to 2592000."},
        )
    now = now or timezone.now()
    link = UsageLink.objects.create(
        customer=customer,
        purpose=purpose,
        created_by=created_by,
        api_key=api_key,
        expires_at=now + lifetime,
    )
    return IssuedLink(link, link_token(link))


def usage_link_revoke(*, link: UsageLink, now: datetime | None = None) -> bool:
    """Revoke once (conditional UPDATE); returns False when it was already revoked."""
    return bool(
        UsageLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=now or timezone.now()
        )
    )


def usage_sign_in_record(
    *,
    customer: Customer,
    method: str,
    ip: str | None,
    user_agent: str,
    user: User | None = None,
    link: UsageLink | None = None,
    now: datetime | None = None,
) -> UsagePageSignIn | None:
    """Log one entry to the pages; ``None`` when it repeats a recent link entry (see module)."""
    now = now or timezone.now()
    user_agent = user_agent[:USER_AGENT_MAX]
    if method in (UsageSignInMethod.LINK, UsageSignInMethod.STAFF) and link is not None:
        recent = UsagePageSignIn.objects.filter(
            link=link, ip=ip, user_agent=user_agent, at__gt=now - LINK_SIGN_IN_DEDUPE
        )
        if recent.exists():
            return None
    return UsagePageSignIn.objects.create(
        customer=customer, method=method, user=user, link=link, at=now, ip=ip, user_agent=user_agent
    )
