"""Plans, plan versions and charges. A charge's price spec is validated by ``Charge.clean``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_display import price_spec_html
from invoicing.entitlements.admin import PlanFeatureInline
from invoicing.models import Charge, Plan, PlanVersion


class PlanVersionInline(admin.TabularInline):
    model = PlanVersion
    extra = 0
    fields = ("version", "cadence", "notes", "charges_link")
    readonly_fields = ("charges_link",)
    show_change_link = True

    @admin.display(description="Charges")
    def charges_link(self, obj: PlanVersion) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:invoicing_planversion_change", args=[obj.pk])
        return format_html('<a href="{}">{} charge(s)</a>', url, obj.charges.count())


@admin.register(Plan)
class PlanAdmin(SimpleHistoryAdmin):
    list_display = ("name", "key", "currency", "created_at")
    search_fields = ("name", "key")
    inlines = [PlanVersionInline]


class ChargeInline(admin.StackedInline):
    model = Charge
    extra = 0
    fields = (("key", "name", "position"), ("kind", "meter_key"), "price")


@admin.register(PlanVersion)
class PlanVersionAdmin(SimpleHistoryAdmin):
    list_display = ("__str__", "plan", "version", "cadence", "created_at")
    list_filter = ("cadence", "plan")
    inlines = [ChargeInline, PlanFeatureInline]


@admin.register(Charge)
class ChargeAdmin(SimpleHistoryAdmin):
    list_display = ("key", "name", "kind", "meter_key", "price_table", "plan_version")
    list_select_related = ("plan_version__plan",)

    @admin.display(description="Price")
    def price_table(self, obj: Charge) -> str:
        return price_spec_html(obj.price, obj.plan_version.plan.currency)

    list_filter = ("kind",)
    search_fields = ("key", "name", "meter_key")
