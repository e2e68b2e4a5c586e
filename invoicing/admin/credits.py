"""Credit grants and their ledger. Grants are created through ``credit_grant_create`` (which
writes the first entry); ledger entries are read-only here as everywhere."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyAdmin
from billingsite.display import money_text
from billingsite.errors import AppError
from billingsite.money import positive_amount
from billingsite.staff import staff_user
from invoicing.models import CreditEntry, CreditEntryKind, CreditGrant, CreditPurchase
from invoicing.selectors.credits import grant_balance
from invoicing.services.credits import credit_grant_create


def purchase_link(grant: CreditGrant) -> str:
    """A link to the credit purchase that bought this grant, if one did."""
    try:
        purchase = grant.purchase
    except CreditPurchase.DoesNotExist:
        purchase = None
    if purchase is None:
        return "—"
    url = reverse("admin:invoicing_creditpurchase_change", args=[purchase.pk])
    return format_html('<a href="{}">Credit purchase #{}</a>', url, purchase.pk)


class CreditEntryInline(admin.TabularInline):
    model = CreditEntry
    extra = 0
    fields = ("created_at", "kind", "amount", "invoice", "note", "created_by")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CreditGrantForm(forms.ModelForm):
    # One plain amount input: the currency is the grant's own field below (django-money's
    # default form field would add a second currency picker).
    amount = forms.DecimalField(
        max_digits=24, decimal_places=4, help_text="Amount granted (the first ledger entry)."
    )

    class Meta:
        model = CreditGrant
        fields = (
            "customer",
            "contract",
            "kind",
            "amount",
            "currency",
            "effective_at",
            "expires_at",
            "priority",
            "note",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("amount") is not None and data.get("currency"):
            try:
                positive_amount(data["amount"], data["currency"].upper(), "amount")
            except AppError as exc:
                self.add_error("amount", exc.message)
        return data


@admin.register(CreditGrant)
class CreditGrantAdmin(SimpleHistoryAdmin):
    form = CreditGrantForm
    list_display = (
        "__str__",
        "customer",
        "kind",
        "amount",
        "balance",
        "effective_at",
        "expires_at",
        "priority",
    )
    list_filter = ("kind", "currency")
    search_fields = ("customer__external_id", "customer__name", "note")
    autocomplete_fields = ("customer",)
    inlines = [CreditEntryInline]

    @admin.display(description="Balance (sum of entries)")
    def balance(self, obj: CreditGrant) -> str:
        return money_text(grant_balance(obj.pk), obj.currency)

    @admin.display(description="Bought by credit purchase")
    def credit_purchase(self, obj: CreditGrant) -> str:
        return purchase_link(obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # a grant is changed by ledger entries, never by editing it
            fields = [*CreditGrantForm.Meta.fields, "commit", "created_by", "created_at"]
            return [*fields, "credit_purchase"]
        return []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CreditGrant, form: Any, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        grant = credit_grant_create(
            customer=data["customer"],
            contract=data.get("contract"),
            kind=data["kind"],
            amount=data["amount"],
            currency=data["currency"],
            effective_at=data["effective_at"],
            expires_at=data.get("expires_at"),
            priority=data["priority"],
            note=data.get("note", ""),
            actor=staff_user(request),
        )
        obj.pk = grant.pk

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj is not None else []


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "grant", "kind", "amount", "invoice", "credit_purchase", "note")
    list_select_related = ("grant__purchase", "invoice")

    @admin.display(description="Credit purchase")
    def credit_purchase(self, obj: CreditEntry) -> str:
        """The purchase that bought the grant (on its grant entry only)."""
        if obj.kind != CreditEntryKind.GRANT:
            return ""
        return purchase_link(obj.grant)

    list_filter = ("kind",)
    search_fields = ("grant__customer__external_id", "invoice__number", "note")
