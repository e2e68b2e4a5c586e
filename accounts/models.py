"""Customers and the identities around them: aliases, contacts, customer users, API keys."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from moneyed import CURRENCIES
from simple_history.models import HistoricalRecords

external_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
    "Use 1-128 letters, digits or . _ : @ - (starting with a letter or digit).",
)


def validate_currency(value: str) -> None:
    if value not in CURRENCIES or value == "XXX":
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code.")


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris).")


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    ARCHIVED = "archived", "Archived"


class Customer(models.Model):
    external_id = models.CharField(
        max_length=128,
        unique=True,
        validators=[external_id_validator],
        help_text="The id the operator's systems use for this customer; events carry it.",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField("billing email", blank=True)
    currency = models.CharField(max_length=3, default="USD", validators=[validate_currency])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    tax_id = models.CharField(max_length=64, blank=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    invoice_grace_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Hours a draft invoice waits for late usage; empty means the default (24).",
    )
    past_due_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the oldest invoice still unpaid passed its due date; empty when none is.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("change_customer_billing_terms", "Can change a customer's currency and tax id"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="customer_stripe_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class CustomerAlias(models.Model):
    """Another id that events may carry for a customer: a project id, an API key fingerprint."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=128, unique=True, validators=[external_id_validator])
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "customer aliases"
        ordering = ["alias"]

    def __str__(self) -> str:
        return self.alias


class ContactRole(models.TextChoices):
    BILLING = "billing", "Billing"
    TECHNICAL = "technical", "Technical"
    LEGAL = "legal", "Legal"
    OTHER = "other", "Other"


class Contact(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(max_length=16, choices=ContactRole.choices, default=ContactRole.BILLING)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class CustomerUser(models.Model):
    """A person who signs in to the usage pages; sees exactly one customer's data."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_user"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="users")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} @ {self.customer.external_id}"


class ApiKeyScope(models.TextChoices):
    INGEST = "ingest", "Ingest events"
    READ = "read", "Read"
    ADMIN = "admin", "Admin (read and write everything)"


class ApiKey(models.Model):
    """A bearer key. Only a SHA-256 digest of the secret is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices)
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="When set, the key sees and names only this customer.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UsageLinkPurpose(models.TextChoices):
    SHARED = "shared", "Shared link (admin button or API)"
    STAFF = "staff", "Staff viewing as the customer"


class UsageLink(models.Model):
    """An expiring, read-only entry to one customer's usage pages (``accounts.portal``).

    The URL carries a signed token naming this row; the row decides expiry and revocation, so
    a leaked link stops working when it expires or is revoked, whatever the token says."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage_links")
    purpose = models.CharField(max_length=16, choices=UsageLinkPurpose.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Usage link #{self.pk} for {self.customer.external_id} ({self.purpose})"


class UsageSignInMethod(models.TextChoices):
    PASSWORD = "password", "Password"
    LINK = "link", "Signed link"
    STAFF = "staff", "Staff opened as the customer"


class UsagePageSignIn(models.Model):
    """Who entered a customer's usage pages, when, from where (dispute evidence, audit)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage_sign_ins")
    method = models.CharField(max_length=16, choices=UsageSignInMethod.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    link = models.ForeignKey(
        UsageLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="sign_ins"
    )
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["customer", "-at"], name="usage_signin_customer_at")]

    def __str__(self) -> str:
        return f"{self.customer.external_id} {self.method} at {self.at:%Y-%m-%d %H:%M}"


# The API's stored Idempotency-Key answers live beside the API (accounts/api/); imported here so
# Django registers the model with the accounts app.
from accounts.api.idempotency_models import IdempotencyKey  # noqa: E402, F401
