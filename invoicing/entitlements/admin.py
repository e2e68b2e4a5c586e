"""Admin: Finance defines features, grants them on plan versions and overrides them per
contract (each override saved through the amendment service, so it has an amendment and
history); counters and reservations are read-only records of the hot path."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyAdmin
from invoicing.entitlements.grants import FeatureChange, contract_feature_override
from invoicing.entitlements.models import (
    ContractFeatureOverride,
    EntitlementCounter,
    Feature,
    PlanFeature,
    Reservation,
    SpendCap,
)
from invoicing.entitlements.spend_caps import spend_cap_set


@admin.register(Feature)
class FeatureAdmin(SimpleHistoryAdmin):
    list_display = ("key", "name", "type", "event_type", "created_at")
    list_filter = ("type",)
    search_fields = ("key", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The key and type name recorded usage events and grants: fixed once created.
        return ("key", "type") if obj is not None else ()


class PlanFeatureInline(admin.TabularInline):
    model = PlanFeature
    extra = 0
    fields = ("feature", "enabled", "limit", "reset", "value")
    autocomplete_fields = ("feature",)


@admin.register(PlanFeature)
class PlanFeatureAdmin(SimpleHistoryAdmin):
    list_display = ("plan_version", "feature", "enabled", "limit", "reset", "value")
    list_filter = ("reset", "enabled")
    search_fields = ("feature__key", "plan_version__plan__key")


@admin.register(ContractFeatureOverride)
class ContractFeatureOverrideAdmin(SimpleHistoryAdmin):
    list_display = (
        "contract",
        "feature",
        "enabled",
        "limit",
        "reset",
        "value",
        "effective_from",
        "effective_to",
        "amendment",
    )
    list_filter = ("reset", "enabled")
    search_fields = ("contract__customer__external_id", "feature__key")
    raw_id_fields = ("contract",)
    readonly_fields = ("amendment",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("amendment", "effective_to")
        # A saved override only ends (or gets a note): a new term is a new amendment.
        return tuple(
            f.name for f in self.model._meta.fields if f.name not in ("effective_to", "note")
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj._history_user = request.user
            super().save_model(request, obj, form, change)
            return
        saved = contract_feature_override(
            contract=obj.contract,
            change=FeatureChange(
                feature=obj.feature,
                enabled=obj.enabled,
                limit=obj.limit,
                reset=obj.reset,
                value=obj.value,
                effective_date=obj.effective_from,
                note=obj.note,
            ),
            actor=request.user,  # type: ignore[arg-type]
        )
        obj.pk, obj.amendment = saved.pk, saved.amendment


@admin.register(EntitlementCounter)
class EntitlementCounterAdmin(ReadOnlyAdmin):
    list_display = ("customer", "feature", "period_start", "period_end", "used", "reserved")
    list_filter = ("feature",)
    search_fields = ("customer__external_id", "feature__key")


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("pk", "counter", "amount", "final_amount", "status", "expires_at")
    list_filter = ("status",)
    search_fields = ("idempotency_key", "counter__customer__external_id")


@admin.register(SpendCap)
class SpendCapAdmin(SimpleHistoryAdmin):
    list_display = ("contract", "amount", "effective_from", "effective_to", "amendment")
    search_fields = ("contract__customer__external_id",)
    raw_id_fields = ("contract",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("amendment", "effective_to")
        return tuple(
            f.name for f in self.model._meta.fields if f.name not in ("effective_to", "note")
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj._history_user = request.user
            super().save_model(request, obj, form, change)
            return
        saved = spend_cap_set(
            contract=obj.contract,
            amount=obj.amount,
            effective_date=obj.effective_from,
            actor=request.user,  # type: ignore[arg-type]
            note=obj.note,
        )
        obj.pk, obj.amendment = saved.pk, saved.amendment
