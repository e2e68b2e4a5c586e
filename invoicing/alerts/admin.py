"""Alerts in the admin: Finance creates and edits them (through the services, audited),
Support views them; each alert shows its latest triggers, and the trigger history is a
read-only list filterable by alert and customer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from billingsite.admin_readonly import ReadOnlyAdmin
from billingsite.errors import AppError
from invoicing.alerts.models import Alert, AlertTrigger
from invoicing.alerts.services import (
    alert_create,
    alert_delete,
    alert_update,
    alert_values_validated,
)

FIELDS = (
    "name",
    "type",
    "customer",
    "plan",
    "meter",
    "group_filter",
    "currency",
    "thresholds",
    "enabled",
)
RECENT = 20


class AlertForm(forms.ModelForm):
    class Meta:
        model = Alert
        fields = FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.validated = alert_values_validated(dict(data))
        except AppError as exc:
            raise forms.ValidationError(exc.message) from exc
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise forms.ValidationError(
                'Thresholds are a list like [{"value": "100", "recurring": false}].'
            ) from exc
        return data


@admin.register(Alert)
class AlertAdmin(SimpleHistoryAdmin):
    form = AlertForm
    list_display = ("name", "type", "customer", "plan", "owner", "enabled", "trigger_count")
    list_filter = ("type", "owner", "enabled")
    search_fields = ("name", "customer__external_id", "customer__name", "plan__key")
    autocomplete_fields = ("customer",)
    readonly_fields = ("owner", "created_by", "created_at", "recent_triggers")

    @admin.display(description="Triggers")
    def trigger_count(self, obj: Alert) -> int:
        return obj.triggers.count()

    @admin.display(description=f"Latest {RECENT} triggers")
    def recent_triggers(self, obj: Alert) -> Any:
        if obj.pk is None:
            return "-"
        rows = obj.triggers.select_related("customer")[:RECENT]
        table = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} (step {})</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    t.triggered_at.strftime("%Y-%m-%d %H:%M:%S"),
                    t.customer.external_id,
                    t.threshold.normalize(),
                    t.step,
                    t.value.normalize(),
                    t.resolved_reason or "open",
                )
                for t in rows
            ),
        )
        url = reverse("admin:invoicing_alerttrigger_changelist") + f"?alert__id__exact={obj.pk}"
        return format_html(
            "<table><tr><th>When</th><th>Customer</th><th>Threshold</th><th>Value</th>"
            '<th>Resolved</th></tr>{}</table><a href="{}">All triggers</a>',
            table,
            url,
        )

    def save_model(self, request: HttpRequest, obj: Alert, form: Any, change: bool) -> None:
        values = {k: v for k, v in form.validated.items() if k in FIELDS}
        try:
            if change:
                saved = alert_update(Alert.objects.get(pk=obj.pk), actor=request.user, **values)
            else:
                saved = alert_create(actor=request.user, **values)
        except AppError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Alert) -> None:
        alert_delete(obj, actor=request.user)


@admin.register(AlertTrigger)
class AlertTriggerAdmin(ReadOnlyAdmin):
    list_display = (
        "triggered_at",
        "alert",
        "customer",
        "period_start",
        "threshold",
        "step",
        "value",
        "resolved_at",
        "resolved_reason",
    )
    list_filter = ("alert__type", "resolved_reason")
    search_fields = ("alert__name", "customer__external_id")
    list_select_related = ("alert", "customer")
