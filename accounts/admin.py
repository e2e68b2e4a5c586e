from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from accounts import services
from accounts.customer360.search import provider_customer_ids
from accounts.models import (
    ApiKey,
    Contact,
    Customer,
    CustomerAlias,
    CustomerUser,
    UsageLink,
    UsagePageSignIn,
)
from accounts.portal.services import usage_link_revoke
from billingsite.errors import AppError
from billingsite.staff import staff_user

# Finance-only fields (permission ``change_customer_billing_terms``): what the customer is
# billed in, and ``invoice_grace_hours``, which decides when its invoices finalize.
BILLING_TERMS_FIELDS = ("currency", "tax_id", "invoice_grace_hours")

# Apps above accounts extend the customer page from their AppConfig.ready() through
# register_customer_page_extension (invoicing: Stripe payment methods, payments, payment-method
# links and their actions), so accounts never imports them and no admin class is patched.
_customer_page_readonly_inlines: list[Any] = []
_customer_page_actions: list[Any] = []


def register_customer_page_extension(
    *, readonly_inlines: Iterable[Any] = (), actions: Iterable[Any] = ()
) -> None:
    """Show ``readonly_inlines`` on the customer page and offer ``actions`` in its list."""
    for inline in readonly_inlines:
        if inline not in _customer_page_readonly_inlines:
            _customer_page_readonly_inlines.append(inline)
    for action in actions:
        if action not in _customer_page_actions:
            _customer_page_actions.append(action)


class AliasInline(admin.TabularInline):
    model = CustomerAlias
    extra = 0
    fields = ("alias", "created_at")
    readonly_fields = ("created_at",)


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "email", "phone", "role", "notes")


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ("name", "external_id", "email", "currency", "timezone", "status", "created_at")
    list_filter = ("status", "currency", "timezone")
    search_fields = (
        "name",
        "external_id",
        "email",
        "aliases__alias",
        "stripe_customer_id",
        "contacts__email",
        "tax_id",
    )
    readonly_fields = ("stripe_customer_id", "created_at", "updated_at")
    inlines = [AliasInline, ContactInline]
    # The hook's list itself: read when the page is built, after every app's ready() ran.
    actions = _customer_page_actions
    fieldsets = (
        (None, {"fields": ("external_id", "name", "email", "status")}),
        (
            "Billing",
            {
                "fields": (
                    "currency",
                    "timezone",
                    "tax_id",
                    "invoice_grace_hours",
                    "stripe_customer_id",
                )
            },
        ),
        (
            "Address",
            {
                "fields": (
                    "address_line1",
                    "address_line2",
                    "city",
                    "state",
                    "postal_code",
                    "country",
                )
            },
        ),
        ("Audit", {"fields": ("created_at", "updated_at")}),
    )

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        inlines = list(super().get_inlines(request, obj))
        if request.method != "POST":  # displays only: a save has nothing to read from them
            inlines += _customer_page_readonly_inlines
        return inlines

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        """The built-in fields plus the apps' providers (invoice numbers, Stripe ids):
        ``accounts.customer360.search``."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        ids = provider_customer_ids(search_term.strip()) if search_term.strip() else set()
        if ids:
            return found | queryset.filter(pk__in=ids), True
        return found, duplicates

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ("external_id",)
        if not request.user.has_perm("accounts.change_customer_billing_terms"):
            fields += BILLING_TERMS_FIELDS
        return fields


@admin.register(CustomerAlias)
class CustomerAliasAdmin(SimpleHistoryAdmin):
    list_display = ("alias", "customer", "created_at")
    search_fields = ("alias", "customer__external_id", "customer__name")
    autocomplete_fields = ("customer",)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "role", "customer")
    list_filter = ("role",)
    search_fields = ("name", "email", "customer__name", "customer__external_id")
    autocomplete_fields = ("customer",)


@admin.register(CustomerUser)
class CustomerUserAdmin(admin.ModelAdmin):
    list_display = ("user", "customer", "created_at")
    search_fields = ("user__username", "user__email", "customer__external_id", "customer__name")
    autocomplete_fields = ("customer",)


@admin.register(ApiKey)
class ApiKeyAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "prefix",
        "scope",
        "customer",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "customer__external_id")
    fields = (
        "name",
        "scope",
        "customer",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    autocomplete_fields = ("customer",)
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "name", "scope", "customer") if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return  # keys are immutable once issued; revoke and issue a new one instead
        issued = services.api_key_create(
            name=obj.name, scope=obj.scope, customer=obj.customer, created_by=staff_user(request)
        )  # type: ignore[arg-type]
        obj.pk = issued.api_key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"Copy this key now; it will not be shown again: {issued.plaintext}",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: Any) -> None:
        for key in queryset:
            try:
                if key.revoked_at is not None:
                    raise AppError("already_revoked", "was already revoked")
                services.api_key_revoke(api_key=key, actor=staff_user(request))
                messages.success(request, f"{key}: revoked.")
            except AppError as exc:
                messages.error(request, f"{key}: {exc.message}")


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UsageLink)
class UsageLinkAdmin(_ReadOnlyAdmin):
    """Links are created from the Customer 360 page or the API; here they are revoked."""

    list_display = (
        "__str__",
        "customer",
        "purpose",
        "created_by",
        "api_key",
        "created_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("purpose", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("customer__external_id", "customer__name", "created_by__username")
    readonly_fields = (
        "customer",
        "purpose",
        "created_by",
        "api_key",
        "created_at",
        "expires_at",
        "revoked_at",
    )
    actions = ["revoke_links"]

    @admin.action(description="Revoke selected links", permissions=["change"])
    def revoke_links(self, request: HttpRequest, queryset: Any) -> None:
        revoked = sum(usage_link_revoke(link=link) for link in queryset)
        messages.success(request, f"{revoked} link(s) revoked.")


@admin.register(UsagePageSignIn)
class UsagePageSignInAdmin(_ReadOnlyAdmin):
    list_display = ("at", "customer", "method", "user", "link", "ip", "user_agent")
    list_filter = ("method",)
    search_fields = ("customer__external_id", "customer__name", "user__username", "ip")
    readonly_fields = ("customer", "method", "user", "link", "at", "ip", "user_agent")
    date_hierarchy = "at"
