"""Meter editor (every definition change is a new version) and the per-customer usage summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from accounts.models import Customer
from billingsite.errors import AppError
from metering import services
from metering.models import Aggregation, Meter, MeterVersion
from metering.selectors import usage_for_period
from metering.services.meters import DEFINITION_FIELDS, validate_definition, version_start


class MeterForm(forms.ModelForm):
    event_type = forms.CharField(max_length=128)
    aggregation = forms.ChoiceField(choices=Aggregation.choices)
    value_property = forms.CharField(max_length=200, required=False)
    filters = forms.JSONField(
        required=False, initial=list, help_text=MeterVersion._meta.get_field("filters").help_text
    )
    group_by = forms.JSONField(required=False, initial=list, help_text='e.g. ["model"]')
    effective_from = forms.DateTimeField(
        required=False,
        help_text="For changes: an hour boundary, not before the current hour "
        "(empty: the current hour). Past hours never change.",
    )

    class Meta:
        model = Meter
        fields = ["key", "name", "unit", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = (
            self.instance.versions.order_by("-effective_from").first() if self.instance.pk else None
        )
        if current is not None:
            for name in DEFINITION_FIELDS:
                self.initial[name] = getattr(current, name)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        definition = {name: data.get(name) for name in DEFINITION_FIELDS}
        definition["filters"] = definition["filters"] or []
        definition["group_by"] = definition["group_by"] or []
        try:
            data.update(validate_definition(definition))
            if self.instance.pk:
                data["effective_from"] = version_start(data.get("effective_from"))
        except AppError as exc:
            raise ValidationError(
                exc.details
                if isinstance(exc.details, dict) and all(k in self.fields for k in exc.details)
                else exc.message
            ) from exc
        return data


class VersionInline(admin.TabularInline):
    model = MeterVersion
    extra = 0
    can_delete = False
    fields = (
        "version",
        "effective_from",
        "event_type",
        "aggregation",
        "value_property",
        "filters",
        "group_by",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    form = MeterForm
    list_display = ("key", "name", "unit", "current_definition", "updated_at")
    search_fields = ("key", "name")
    inlines = [VersionInline]
    fieldsets = (
        (None, {"fields": ("key", "name", "unit", "description")}),
        (
            "Definition (changes create a new version)",
            {
                "fields": (
                    "event_type",
                    "aggregation",
                    "value_property",
                    "filters",
                    "group_by",
                    "effective_from",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("key",) if obj is not None else ()

    @admin.display(description="current definition")
    def current_definition(self, obj: Meter) -> str:
        version = obj.versions.order_by("-effective_from").first()
        if version is None:
            return "-"
        value = f"({version.value_property})" if version.value_property else ""
        return f"v{version.version}: {version.aggregation}{value} of {version.event_type}"

    def save_model(self, request: HttpRequest, obj: Meter, form: Any, change: bool) -> None:
        data = form.cleaned_data
        definition = {name: data[name] for name in DEFINITION_FIELDS}
        who = request.user.get_username()
        if not change:
            created = services.meter_create(
                key=obj.key,
                name=obj.name,
                description=obj.description,
                unit=obj.unit,
                created_by=who,
                **definition,
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        services.meter_update(
            meter=obj,
            name=obj.name,
            description=obj.description,
            unit=obj.unit,
            effective_from=data["effective_from"],
            created_by=who,
            **definition,
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Versions are written by the services only; the inline is read-only."""
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_urls(self) -> list[Any]:
        summary = path(
            "usage-summary/",
            self.admin_site.admin_view(self.usage_summary),
            name="metering_usage_summary",
        )
        return [summary, *super().get_urls()]

    def usage_summary(self, request: HttpRequest) -> HttpResponse:
        """Every meter's total for one customer and calendar month (customer's time zone)."""
        external_id = request.GET.get("customer", "").strip()
        month = request.GET.get("month", "").strip()
        customer = Customer.objects.filter(external_id=external_id).first() if external_id else None
        rows: list[dict[str, Any]] = []
        error = ""
        start = end = None
        if customer is not None:
            try:
                start, end = _month(month, ZoneInfo(customer.timezone))
                for meter in Meter.objects.prefetch_related("versions"):
                    usage = usage_for_period(customer=customer, meter=meter, start=start, end=end)
                    rows.append({"meter": meter, "total": usage.total})
            except (ValueError, AppError) as exc:
                error = getattr(exc, "message", str(exc))
        elif external_id:
            error = f"No customer {external_id!r}."
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage summary",
            "opts": self.model._meta,
            "customer": customer,
            "rows": rows,
            "error": error,
            "start": start,
            "end": end,
            "external_id": external_id,
            "month": month,
        }
        return TemplateResponse(request, "admin/metering/usage_summary.html", context)


def _month(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    if text:
        year, month = (int(part) for part in text.split("-"))
    else:
        now = datetime.now(UTC).astimezone(zone)
        year, month = now.year, now.month
    start = datetime(year, month, 1, tzinfo=zone)
    end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return start, datetime(end_year, end_month, 1, tzinfo=zone)
