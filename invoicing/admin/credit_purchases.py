"""Auto-recharge rules (Finance sets them through the same service as the API) and credit
purchases (read-only: they change only through the outbox's charge and its outcome)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyAdmin
from invoicing.models import AutoRechargeRule, CreditPurchase
from invoicing.services.credit_topups import auto_recharge_rule_set


class AutoRechargeRuleForm(forms.ModelForm):
    threshold = forms.DecimalField(max_digits=24, decimal_places=4, min_value=0)
    amount = forms.DecimalField(max_digits=24, decimal_places=4, min_value=0)

    class Meta:
        model = AutoRechargeRule
        fields = (
            "customer",
            "contract",
            "currency",
            "threshold",
            "amount",
            "max_per_month",
            "enabled",
        )


@admin.register(AutoRechargeRule)
class AutoRechargeRuleAdmin(SimpleHistoryAdmin):
    form = AutoRechargeRuleForm
    list_display = ("__str__", "customer", "currency", "threshold", "amount", "enabled")
    list_filter = ("enabled", "currency")
    search_fields = ("customer__external_id", "customer__name")
    autocomplete_fields = ("customer",)
    readonly_fields = ("stopped_at", "stopped_reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # one rule per customer and currency: those stay
            return ("customer", "currency", "stopped_at", "stopped_reason")
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: AutoRechargeRule, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        rule = auto_recharge_rule_set(
            customer=obj.customer,
            currency=obj.currency,
            threshold=data["threshold"],
            amount=data["amount"],
            max_per_month=data["max_per_month"],
            enabled=data["enabled"],
            contract=data.get("contract"),
        )
        obj.pk = rule.pk


def _link(view: str, pk: int | None, text: str) -> str:
    if pk is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse(view, args=[pk]), text)


@admin.register(CreditPurchase)
class CreditPurchaseAdmin(ReadOnlyAdmin):
    """Read-only for every role (Support and Finance see them; they change only through the
    outbox's charge and its outcome). Search by customer (external id or name), the purchase's
    key, or the Stripe PaymentIntent id; filter by status, kind, currency and date."""

    list_display = (
        "__str__",
        "customer",
        "source",
        "amount",
        "status",
        "credit_grant",
        "stripe_payment_intent_id",
        "created_at",
    )
    list_filter = ("status", "source", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = (
        "customer__external_id",
        "customer__name",
        "idempotency_key",
        "stripe_payment_intent_id",
    )
    date_hierarchy = "created_at"
    list_select_related = ("customer", "grant")

    @admin.display(description="Credit grant")
    def credit_grant(self, obj: CreditPurchase) -> str:
        return _link("admin:invoicing_creditgrant_change", obj.grant_id, f"Grant #{obj.grant_id}")
