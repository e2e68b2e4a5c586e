"""Writes for accounts. Each service is atomic; history rows record who changed what."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import api_key_cache
from accounts.event_payloads import customer_event
from accounts.models import (
    ApiKey,
    ApiKeyScope,
    Customer,
    CustomerAlias,
    CustomerStatus,
    CustomerUser,
)
from accounts.roles import ROLE_BY_SLUG
from billingsite.errors import AppError, Conflict
from billingsite.events import emit
from billingsite.outbox.services import outbox_enqueue
from billingsite.validation import full_clean

API_KEY_PREFIX = "tly"

# Billing profile fields Stripe keeps a copy of. A change writes an outbox row in the same
# transaction; invoicing registers the handler (accounts does not import it).
STRIPE_SYNC_TOPIC = "stripe.customer.sync"
STRIPE_SYNC_FIELDS = (
    "name",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
)

CUSTOMER_FIELDS = (
    "name",
    "email",
    "currency",
    "timezone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "tax_id",
    "status",
    "invoice_grace_hours",
)


def _ensure_identifier_free(identifier: str, *, ignore_customer: Customer | None = None) -> None:
    """External ids and aliases share one namespace: an event's `customer` must be unambiguous."""
    taken_by_customer = Customer.objects.filter(external_id=identifier)
    taken_by_alias = CustomerAlias.objects.filter(alias=identifier)
    if ignore_customer is not None:
        taken_by_customer = taken_by_customer.exclude(pk=ignore_customer.pk)
        taken_by_alias = taken_by_alias.exclude(customer=ignore_customer)
    if taken_by_customer.exists() or taken_by_alias.exists():
        raise Conflict(
            "identifier_taken",
            f"{identifier!r} is already a customer id or alias.",
            details={"identifier": identifier},
        )


@transaction.atomic
def customer_create(
    *, external_id: str, name: str, aliases: list[str] | None = None, **fields: Any
) -> Customer:
    unknown = set(fields) - set(CUSTOMER_FIELDS) - {"stripe_customer_id"}
    if unknown:
        raise AppError(
            "validation_error",
            "Unknown customer fields.",
            details={f: "Unknown field." for f in sorted(unknown)},
        )
    _ensure_identifier_free(external_id)
    customer = Customer(external_id=external_id, name=name, **fields)
    full_clean(customer)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:
        raise Conflict("identifier_taken", f"{external_id!r} already exists.") from exc
    for alias in aliases or []:
        customer_alias_add(customer=customer, alias=alias)
    emit("customer.created", customer_event(customer), key=f"customer.created:{customer.pk}")
    if customer.email:
        outbox_enqueue(
            STRIPE_SYNC_TOPIC, f"customer:{customer.pk}:create", {"customer_id": customer.pk}
        )
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **changes: Any) -> Customer:
    """Update profile fields under a row lock, so concurrent edits don't lose each other."""
    unknown = set(changes) - set(CUSTOMER_FIELDS)
    if unknown:
        raise AppError(
            "validation_error",
            "These fields cannot be changed.",
            details={f: "Not an editable field." for f in sorted(unknown)},
        )
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    before = {name: getattr(locked, name) for name in STRIPE_SYNC_FIELDS}
    changed = [name for name, value in changes.items() if getattr(locked, name) != value]
    for name, value in changes.items():
        setattr(locked, name, value)
    full_clean(locked)
    locked.save()
    version = locked.history.order_by("-history_id").values_list("history_id", flat=True)[0]
    if changed:  # the history row names this change
        key = f"customer.updated:{locked.pk}:{version}"
        emit("customer.updated", customer_event(locked, changed), key=key)
    synced = locked.email or locked.stripe_customer_id
    if synced and any(getattr(locked, name) != before[name] for name in STRIPE_SYNC_FIELDS):
        outbox_enqueue(
            STRIPE_SYNC_TOPIC, f"customer:{locked.pk}:update:{version}", {"customer_id": locked.pk}
        )
    return locked


@transaction.atomic
def customer_alias_add(*, customer: Customer, alias: str) -> CustomerAlias:
    """Attach an alias. Events already stored under it are attributed by the metering app."""
    _ensure_identifier_free(alias)
    obj = CustomerAlias(customer=customer, alias=alias)
    full_clean(obj, exclude=["customer"])
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise Conflict("identifier_taken", f"{alias!r} is already an alias.") from exc
    return obj


def customer_by_identifier(identifier: str) -> Customer | None:
    return (
        Customer.objects.filter(Q(external_id=identifier) | Q(aliases__alias=identifier))
        .distinct()
        .first()
    )


# --- API keys --------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *, name: str, scope: str, customer: Customer | None = None, created_by: User | None = None
) -> IssuedKey:
    if scope not in ApiKeyScope.values:
        raise AppError(
            "validation_error",
            f"Unknown scope {scope!r}.",
            details={"scope": f"Choose one of {', '.join(ApiKeyScope.values)}."},
        )
    prefix = secrets.token_hex(6)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        digest=_digest(plaintext),
        scope=scope,
        customer=customer,
        created_by=created_by,
    )
    return IssuedKey(api_key=key, plaintext=plaintext)


def api_key_authenticate(
    plaintext: str, fetch: Callable[[str, str], Any] | None = None
) -> ApiKey | None:
    """The active key matching ``plaintext``, or None: from the short-lived lookup cache
    (``accounts.api_key_cache``, keyed by the digest) or else the database, comparing digests
    in constant time. ``fetch(cache_key, prefix)``, when given, reads the cache entry (the API
    passes one that also counts the request against the key's rate limit)."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    digest = _digest(plaintext)
    prefix = parts[1]
    cached = api_key_cache.cached_api_key(
        digest, None if fetch is None else (lambda cache_key: fetch(cache_key, prefix))
    )
    if cached == api_key_cache.REVOKED:
        return None
    key = cached if isinstance(cached, ApiKey) else None
    if key is None:
        key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
        if key is None or not hmac.compare_digest(key.digest, digest):
            return None
        api_key_cache.remember_api_key(key)
    _api_key_touch(key)
    return key


# Per process: when this process last recorded each key's use, by digest (unique for ever, where
# a primary key can come back after a table is truncated). A cached key carries the last_used_at
# of when it was cached, so it alone cannot tell whether a write is due.
_last_touched: dict[str, datetime] = {}


def _api_key_touch(key: ApiKey) -> None:
    """Record last use at most once a minute per key and process: one conditional UPDATE (a
    no-op when another process did it), no lock."""
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    known = [t for t in (key.last_used_at, _last_touched.get(key.digest)) if t is not None]
    if known and now - max(known) < resolution:
        return
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - resolution)
    ).update(last_used_at=now)
    _last_touched[key.digest] = now


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None = None) -> ApiKey:
    """Revoke a key once (again is a no-op); saved through the model, so the key's audit
    history records when and who (``actor``)."""
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        # simple_history records this as the change's "who"
        locked._history_user = actor  # type: ignore[attr-defined]
        locked.save(update_fields=["revoked_at"])
    api_key.refresh_from_db()
    digest = api_key.digest
    # Dropped now (a request in this transaction reads the database and sees the revocation)
    # and tombstoned at commit (over any copy a concurrent request cached meanwhile).
    api_key_cache.drop_api_key(digest)
    transaction.on_commit(lambda: api_key_cache.forget_api_key(digest))
    return api_key


# --- people ----------------------------------------------------------------------------------


@transaction.atomic
def staff_user_create(*, username: str, role: str, password: str, email: str = "") -> User:
    """Create (or re-role) a staff user in exactly one role group."""
    group_name = ROLE_BY_SLUG.get(role.lower())
    if group_name is None:
        raise AppError(
            "validation_error",
            f"Unknown role {role!r}.",
            details={"role": f"Choose one of {', '.join(ROLE_BY_SLUG)}."},
        )
    group = Group.objects.filter(name=group_name).first()
    if group is None:
        raise AppError("roles_missing", "Role groups are missing: run `manage.py migrate`.")
    user, _ = User.objects.get_or_create(username=username)
    user.email = email or user.email
    user.is_staff = True
    user.is_superuser = False
    user.set_password(password)
    user.save()
    user.groups.set([group])
    return user


@transaction.atomic
def customer_user_create(
    *, customer: Customer, username: str, email: str, password: str | None = None
) -> CustomerUser:
    if User.objects.filter(username=username).exists():
        raise Conflict("username_taken", f"User {username!r} already exists.")
    user = User(username=username, email=email, is_staff=False)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return CustomerUser.objects.create(user=user, customer=customer)


# --- collections (invoicing.collections calls these; a lower layer, so no import of it) -------


@transaction.atomic
def customer_past_due_set(*, customer_id: int, since: datetime | None, reason: str) -> Customer:
    """Set (or clear, ``since=None``) ``past_due_since`` under the row lock; a history row
    records the change and why. No-op when the value is already that."""
    locked = Customer.objects.select_for_update().get(pk=customer_id)
    if locked.past_due_since != since:
        locked.past_due_since = since
        locked._change_reason = reason[:100]  # type: ignore[attr-defined]
        locked.save(update_fields=["past_due_since", "updated_at"])
    return locked


@transaction.atomic
def customer_suspension_set(
    *, customer_id: int, suspended: bool, reason: str, actor: User | None = None
) -> Customer:
    """Suspend an active customer or lift a suspension (back to active), with a history row.
    An archived customer is left alone; repeating a call changes nothing."""
    locked = Customer.objects.select_for_update().get(pk=customer_id)
    wanted = CustomerStatus.SUSPENDED if suspended else CustomerStatus.ACTIVE
    current = CustomerStatus.ACTIVE if suspended else CustomerStatus.SUSPENDED
    if locked.status == current:
        locked.status = wanted
        locked._change_reason = reason[:100]  # type: ignore[attr-defined]
        if actor is not None:
            locked._history_user = actor  # type: ignore[attr-defined]
        locked.save(update_fields=["status", "updated_at"])
    return locked
