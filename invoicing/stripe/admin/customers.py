"""Stripe on the customer page: payment methods (read back from Stripe, with the default),
payments (failed ones with Stripe's reason), payment-method update links; and actions to read
payment methods again or have a link created (and emailed). Actions only write outbox rows:
the Stripe calls happen in a worker, never in the admin request."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.admin import register_customer_page_extension
from accounts.models import Customer
from billingsite.admin_readonly import ReadOnlyInline
from billingsite.outbox.admin import action_results
from invoicing.models import Payment, PaymentMethodUpdateLink, StripePaymentMethod
from invoicing.stripe.customers import (
    customer_stripe_refresh_request,
    payment_method_link_request,
)


class _ReadOnlyInline(ReadOnlyInline):
    show_change_link = False


class PaymentMethodInline(_ReadOnlyInline):
    model = StripePaymentMethod
    verbose_name_plural = "Payment methods on Stripe (read back)"
    fields = (
        "is_default",
        "type",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "stripe_id",
        "refreshed_at",
    )
    readonly_fields = fields


class PaymentInline(_ReadOnlyInline):
    model = Payment
    verbose_name_plural = "Payments (from Stripe)"
    fields = (
        "created_at",
        "invoice",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "failure_message",
        "decline_code",
        "stripe_payment_intent_id",
    )
    readonly_fields = fields
    ordering = ("-created_at",)
    max_num = 20


class PaymentMethodLinkInline(_ReadOnlyInline):
    model = PaymentMethodUpdateLink
    fk_name = "customer"
    verbose_name_plural = "Payment-method update links (send the ready URL to the customer)"
    fields = ("created_at", "status", "url", "email_to", "emailed_at", "requested_by", "error")
    readonly_fields = fields
    max_num = 10


def _staff_user(request: HttpRequest) -> User:
    # The admin only serves signed-in staff; Django types request.user as possibly anonymous.
    return cast(User, request.user)


def _results(
    modeladmin: admin.ModelAdmin, request: HttpRequest, title: str, results: list[tuple[Any, str]]
) -> HttpResponse:
    return action_results(request, modeladmin, title, results, object_label="Customer")


@admin.action(
    description="Create a payment-method update link (show it to me)", permissions=["view"]
)
def payment_method_link(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Customer]
) -> HttpResponse:
    results = []
    for customer in queryset.order_by("pk"):
        link = payment_method_link_request(customer=customer, requested_by=_staff_user(request))
        results.append(
            (
                customer,
                f"link #{link.pk} requested: its URL appears under "
                "'Payment-method update links' on the customer page",
            )
        )
    return _results(modeladmin, request, "Payment-method update links", results)


@admin.action(
    description="Email a payment-method update link to the billing email", permissions=["view"]
)
def payment_method_link_email(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Customer]
) -> HttpResponse:
    results = []
    for customer in queryset.order_by("pk"):
        if not customer.email:
            results.append((customer, "not sent: the customer has no billing email"))
            continue
        link = payment_method_link_request(
            customer=customer, requested_by=_staff_user(request), email_to=customer.email
        )
        results.append(
            (
                customer,
                f"link #{link.pk} requested; it is emailed to "
                f"{customer.email} once Stripe created it",
            )
        )
    return _results(modeladmin, request, "Payment-method update links by email", results)


@admin.action(description="Sync with Stripe and read payment methods back", permissions=["view"])
def stripe_refresh(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Customer]
) -> HttpResponse:
    results = []
    for customer in queryset.order_by("pk"):
        row = customer_stripe_refresh_request(customer=customer)
        results.append((customer, f"queued ({row.topic}, outbox row #{row.pk})"))
    return _results(modeladmin, request, "Stripe refresh", results)


def register() -> None:
    """Called from InvoicingConfig.ready(): Stripe's part of the customer page."""
    register_customer_page_extension(
        readonly_inlines=[PaymentMethodInline, PaymentInline, PaymentMethodLinkInline],
        actions=[payment_method_link, payment_method_link_email, stripe_refresh],
    )
