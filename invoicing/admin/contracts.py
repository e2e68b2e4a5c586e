"""Contracts: Finance creates them and changes their terms through the "Amend" page, which
previews the impact on the next invoice before saving. Support sees everything read-only."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_display import price_spec_html
from billingsite.admin_readonly import ReadOnlyInline as _ReadOnlyInline
from billingsite.display import money_text
from billingsite.errors import AppError
from billingsite.money import format_decimal
from billingsite.staff import staff_user
from invoicing.models import (
    Charge,
    Commit,
    CommitKind,
    Contract,
    ContractAmendment,
    Discount,
    DiscountDuration,
    DiscountKind,
    OverrideKind,
    PlanVersion,
    RateOverride,
)
from invoicing.periods import local_date
from invoicing.selectors.contracts import terms_in_force
from invoicing.services.contracts import AmendmentInput, contract_amend
from invoicing.services.previews import amendment_preview


class OverrideInline(_ReadOnlyInline):
    model = RateOverride
    fields = (
        "charge_key",
        "kind",
        "multiplier",
        "price_table",
        "tiers_table",
        "effective_from",
        "effective_to",
        "note",
    )
    readonly_fields = fields

    @admin.display(description="Price")
    def price_table(self, obj: RateOverride) -> str:
        return price_spec_html(obj.price, obj.contract.currency) if obj.price else "-"

    @admin.display(description="Tiers")
    def tiers_table(self, obj: RateOverride) -> str:
        if not obj.tiers:
            return "-"
        return price_spec_html({"tiers": obj.tiers}, obj.contract.currency)


class CommitInline(_ReadOnlyInline):
    model = Commit
    fields = ("kind", "commit_amount", "effective_from", "effective_to", "note")
    readonly_fields = fields

    @admin.display(description="Amount")
    def commit_amount(self, obj: Commit) -> str:
        return money_text(obj.amount, obj.contract.currency)


class DiscountInline(_ReadOnlyInline):
    model = Discount
    fields = ("name", "kind", "value", "duration", "effective_from", "effective_to")
    readonly_fields = fields


class AmendmentInline(_ReadOnlyInline):
    model = ContractAmendment
    fields = ("effective_date", "plan_version", "note", "changes", "created_by", "created_at")
    readonly_fields = fields


class ContractForm(forms.ModelForm):
    class Meta:
        model = Contract
        fields = (
            "customer",
            "plan_version",
            "start_date",
            "end_date",
            "billing_anchor_day",
            "timezone",
            "net_days",
            "collection_method",
            "invoice_series",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        customer, version = data.get("customer"), data.get("plan_version")
        if customer and version and version.plan.currency != customer.currency:
            raise forms.ValidationError(
                f"The plan bills in {version.plan.currency}; the customer in {customer.currency}."
            )
        return data


@admin.register(Contract)
class ContractAdmin(SimpleHistoryAdmin):
    form = ContractForm
    list_display = (
        "customer",
        "plan_version",
        "start_date",
        "end_date",
        "timezone",
        "collection_method",
        "amend_link",
    )
    list_filter = ("collection_method",)
    search_fields = ("customer__external_id", "customer__name")
    autocomplete_fields = ("customer",)
    inlines = [AmendmentInline, OverrideInline, CommitInline, DiscountInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        # What shapes billing periods and prices changes only through amendments.
        return (
            "customer",
            "plan_version",
            "start_date",
            "end_date",
            "billing_anchor_day",
            "timezone",
            "invoice_series",
        )

    @admin.display(description="Amend")
    def amend_link(self, obj: Contract) -> str:
        url = reverse("admin:invoicing_contract_amend", args=[obj.pk])
        return format_html('<a href="{}">Amend…</a>', url)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:contract_id>/amend/",
                self.admin_site.admin_view(self.amend_view),
                name="invoicing_contract_amend",
            )
        ]
        return custom + super().get_urls()

    def amend_view(self, request: HttpRequest, contract_id: int) -> HttpResponse:
        if not self.has_change_permission(request):  # before the lookup: no 404 hint
            raise PermissionDenied
        contract = get_object_or_404(Contract, pk=contract_id)
        if not self.has_change_permission(request, contract):
            raise PermissionDenied
        form = AmendmentForm(request.POST or None, contract=contract)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "contract": contract,
            "form": form,
            "in_force": form.in_force,
            "title": f"Amend contract {contract}",
        }
        if request.method == "POST" and form.is_valid():
            change = form.amendment_input()
            try:
                if "save" in request.POST:
                    contract_amend(contract=contract, change=change, actor=staff_user(request))
                    messages.success(request, "Amendment saved.")
                    return HttpResponseRedirect(
                        reverse("admin:invoicing_contract_change", args=[contract.pk])
                    )
                context["impact"] = amendment_preview(
                    contract=contract, change=change, at=timezone.now()
                )
            except AppError as exc:
                form.add_error(None, f"{exc.message} {exc.details or ''}")
        return TemplateResponse(request, "invoicing/admin/contract_amend.html", context)


def _json_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.Textarea({"rows": 3}))


class AmendmentForm(forms.Form):
    effective_date = forms.DateField(help_text="First day the change applies (contract's zone).")
    plan_version = forms.ModelChoiceField(PlanVersion.objects.all(), required=False)
    end_date = forms.DateField(required=False, help_text="End the contract (exclusive).")
    override_charge_key = forms.ChoiceField(required=False, label="Override: charge")
    override_kind = forms.ChoiceField(choices=[("", "-"), *OverrideKind.choices], required=False)
    override_multiplier = forms.DecimalField(required=False, max_digits=30, decimal_places=12)
    override_replace = forms.BooleanField(
        required=False,
        label="Override: replace the ones in force",
        help_text="Ticked: the overrides of this charge in force on the effective date end "
        "there and this one replaces them. Unticked: it applies on top of them (a multiplier "
        "compounds with the one in force).",
    )
    override_price = _json_field("Override: price spec (JSON)")
    override_tiers = _json_field("Override: tiers (JSON list)")
    commit_kind = forms.ChoiceField(choices=[("", "-"), *CommitKind.choices], required=False)
    commit_amount = forms.DecimalField(required=False, max_digits=24, decimal_places=4)
    discount_name = forms.CharField(required=False)
    discount_kind = forms.ChoiceField(choices=[("", "-"), *DiscountKind.choices], required=False)
    discount_value = forms.DecimalField(required=False, max_digits=30, decimal_places=12)
    discount_duration = forms.ChoiceField(choices=DiscountDuration.choices, required=False)
    note = forms.CharField(required=False, widget=forms.Textarea({"rows": 2}))

    def __init__(self, *args: Any, contract: Contract, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contract = contract
        plan_version = self.fields["plan_version"]
        assert isinstance(plan_version, forms.ModelChoiceField)
        plan_version.queryset = PlanVersion.objects.filter(
            plan__currency=contract.currency, cadence=contract.plan_version.cadence
        )
        self.in_force = terms_in_force(contract, local_date(timezone.now(), contract.timezone))
        charges = Charge.objects.filter(plan_version__plan=contract.plan_version.plan)
        names = dict(charges.order_by("key", "-plan_version__version").values_list("key", "name"))
        charge_key = self.fields["override_charge_key"]
        assert isinstance(charge_key, forms.ChoiceField)
        charge_key.choices = [
            ("", "-"),
            *((key, f"{name} ({key})") for key, name in sorted(names.items())),
        ]

    def multiplier_effect(self) -> str:
        """What a multiplier override does to the one in force today, in words."""
        data = getattr(self, "cleaned_data", {})
        charge = self.in_force.charge(data.get("override_charge_key") or "")
        new = data.get("override_multiplier")
        if data.get("override_kind") != OverrideKind.MULTIPLIER or charge is None or new is None:
            return ""
        current = charge.multiplier
        shown = format_decimal(Decimal(new).normalize())
        if current is None:
            return f"No multiplier is in force on {charge.key} today: ×{shown} applies alone."
        was = format_decimal(current.normalize())
        if data.get("override_replace"):
            return f"×{shown} replaces the ×{was} in force on {charge.key} today."
        return (
            f"×{shown} compounds with the ×{was} in force on {charge.key} today: "
            f"×{format_decimal((current * new).normalize())} in all."
        )

    def _json(self, name: str) -> Any:
        text = self.cleaned_data.get(name) or ""
        if not text.strip():
            return None
        try:
            return json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise forms.ValidationError({name: f"Not valid JSON: {exc}"}) from exc

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        data["override_price_json"] = self._json("override_price")
        data["override_tiers_json"] = self._json("override_tiers")
        if data.get("override_kind") and not data.get("override_charge_key"):
            self.add_error("override_charge_key", "Name the charge the override applies to.")
        return data

    def amendment_input(self) -> AmendmentInput:
        data = self.cleaned_data
        overrides, commits, discounts = [], [], []
        if data.get("override_kind"):
            overrides.append(
                {
                    "charge_key": data["override_charge_key"],
                    "kind": data["override_kind"],
                    "multiplier": data.get("override_multiplier"),
                    "price": data["override_price_json"],
                    "tiers": data["override_tiers_json"],
                    "replace": bool(data.get("override_replace")),
                }
            )
        if data.get("commit_kind"):
            commits.append({"kind": data["commit_kind"], "amount": data.get("commit_amount")})
        if data.get("discount_kind"):
            discounts.append(
                {
                    "name": data.get("discount_name") or "Discount",
                    "kind": data["discount_kind"],
                    "value": data.get("discount_value"),
                    "duration": data.get("discount_duration") or "recurring",
                }
            )
        return AmendmentInput(
            effective_date=data["effective_date"],
            plan_version=data.get("plan_version"),
            end_date=data.get("end_date"),
            overrides=tuple(overrides),
            commits=tuple(commits),
            discounts=tuple(discounts),
            note=data.get("note", ""),
        )


@admin.register(ContractAmendment)
class ContractAmendmentAdmin(SimpleHistoryAdmin):
    list_display = ("contract", "effective_date", "plan_version", "created_by", "created_at")
    readonly_fields = (
        "contract",
        "effective_date",
        "plan_version",
        "note",
        "changes",
        "created_by",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
