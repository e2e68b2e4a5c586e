"""Admin for the Stripe mirror: webhook inbox (replay), payments (failed ones with Stripe's
reason), Stripe invoices, payment-method links; all read-only records of what Stripe said."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyAdmin
from billingsite.display import money_text
from billingsite.money import from_minor_units
from billingsite.outbox.admin import action_results
from invoicing.models import (
    Invoice,
    Payment,
    PaymentMethodUpdateLink,
    StripeInvoice,
    StripeWebhookEvent,
)
from invoicing.states import InvoiceStatus
from invoicing.stripe.config import not_configured_notice, stripe_configured
from invoicing.stripe.inbox import webhook_events_replay


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "stripe_id",
        "type",
        "status",
        "error_code",
        "attempts",
        "stripe_created",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "type")
    search_fields = ("stripe_id", "object_id", "error")
    date_hierarchy = "received_at"
    actions = ["replay"]
    fields = (
        "stripe_id",
        "type",
        "object_id",
        "status",
        "error_code",
        "error",
        "attempts",
        "stripe_created",
        "received_at",
        "processed_at",
        "livemode",
        "api_version",
        "body",
    )
    readonly_fields = fields

    @admin.action(description="Replay (process again now)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[StripeWebhookEvent]) -> HttpResponse:
        rows = {row.pk: row for row in queryset}
        results = webhook_events_replay(event_ids=list(rows))
        return action_results(
            request,
            self,
            "Replay: results",
            [(rows.get(pk, pk), status) for pk, status in results],
            object_label="Event",
        )

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.view_stripewebhookevent") and (
            request.user.is_superuser or request.user.has_perm("invoicing.change_invoice")
        )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "customer",
        "invoice",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "failure_reason",
        "created_at",
    )
    list_filter = ("status", "currency")
    search_fields = (
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "customer__external_id",
        "customer__name",
        "invoice__number",
        "failure_message",
    )
    date_hierarchy = "created_at"
    list_select_related = ("customer", "invoice")
    fields = (
        "customer",
        "invoice",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "status",
        "currency",
        "amount",
        "amount_captured",
        "amount_refunded",
        "failure_code",
        "decline_code",
        "failure_message",
        "stripe_created",
        "last_event_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="Stripe's reason")
    def failure_reason(self, obj: Payment) -> str:
        if obj.status != "failed":
            return ""
        code = " / ".join(c for c in (obj.failure_code, obj.decline_code) if c)
        return f"{obj.failure_message} ({code})" if code else obj.failure_message


def _minor_text(minor: int | None, currency: str) -> str:
    """Stripe's integer minor units ("8090") as the money they are ("80.90 USD")."""
    if minor is None or not currency:
        return "-"
    code = currency.upper()
    return money_text(from_minor_units(minor, code), code)


@admin.register(StripeInvoice)
class StripeInvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "stripe_id",
        "invoice",
        "status",
        "collection_method",
        "stripe_total",
        "stripe_paid",
        "last_event_at",
        "synced_at",
    )
    list_filter = ("status", "collection_method")
    search_fields = ("stripe_id", "invoice__number")
    list_select_related = ("invoice",)
    fields = (
        "invoice",
        "stripe_id",
        "status",
        "collection_method",
        "stripe_total",
        "stripe_paid",
        "hosted_link",
        "stripe_created",
        "last_event_at",
        "synced_at",
    )
    readonly_fields = fields

    @admin.display(description="Total at Stripe", ordering="total_minor")
    def stripe_total(self, obj: StripeInvoice) -> str:
        return _minor_text(obj.total_minor, obj.currency)

    @admin.display(description="Paid at Stripe", ordering="amount_paid_minor")
    def stripe_paid(self, obj: StripeInvoice) -> str:
        return _minor_text(obj.amount_paid_minor, obj.currency)

    @admin.display(description="Hosted invoice")
    def hosted_link(self, obj: StripeInvoice) -> str:
        if not obj.hosted_invoice_url:
            return "-"
        return format_html(
            '<a href="{}" rel="noopener">{}</a>', obj.hosted_invoice_url, obj.hosted_invoice_url
        )


@admin.register(PaymentMethodUpdateLink)
class PaymentMethodUpdateLinkAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "customer",
        "status",
        "url",
        "email_to",
        "emailed_at",
        "requested_by",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("customer__external_id", "customer__name", "email_to")
    fields = (
        "customer",
        "status",
        "url",
        "email_to",
        "emailed_at",
        "error",
        "requested_by",
        "created_at",
        "ready_at",
    )
    readonly_fields = fields


def stripe_waiting_notice(invoice_id: str) -> str:
    """The invoice page's warning when an issued invoice cannot reach Stripe (no API key)."""
    if stripe_configured():
        return ""
    waiting = (
        Invoice.objects.filter(pk=invoice_id, stripe__isnull=True, total__gt=0)
        .exclude(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID])
        .exists()
    )
    return not_configured_notice("this invoice") if waiting else ""


def invoice_stripe_summary(invoice: Any) -> str:
    """For the invoice page: its Stripe invoice and every payment attempt with Stripe's reason."""
    from django.utils.html import format_html_join

    mirror = StripeInvoice.objects.filter(invoice=invoice).first()
    head = (
        format_html("{} ({})", mirror.stripe_id, mirror.status)
        if mirror
        else format_html(
            "{}",
            "not on Stripe"
            if invoice.status == "draft"
            else "not on Stripe yet (see the outbox)"
            if stripe_configured()
            else "not on Stripe yet. " + not_configured_notice("this invoice"),
        )
    )
    payments = Payment.objects.filter(invoice=invoice).order_by("created_at")
    rows = format_html_join(
        "",
        "<li>{} {} {}{}</li>",
        (
            (
                p.stripe_payment_intent_id or p.stripe_charge_id,
                p.status,
                money_text(p.amount, p.currency),
                f": {p.failure_message} ({p.decline_code or p.failure_code})"
                if p.status == "failed"
                else "",
            )
            for p in payments
        ),
    )
    return format_html("{}<ul>{}</ul>", head, rows) if payments else head
