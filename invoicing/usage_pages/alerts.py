"""Alerts on the usage pages: the customer sees its alerts and their latest triggers, and a
signed-in customer user may create and delete its own spend and usage alerts (self-serve
budgets, emailed to the billing contacts) unless the operator turned ``ALERTS_SELF_SERVE``
off. Signed links are read-only: they show the alerts but offer no form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.portal.access import Viewer, usage_page
from billingsite.errors import AppError
from invoicing.alerts.models import AlertOwner, AlertType
from invoicing.alerts.selectors import (
    alerts_for_customer_page,
    customer_self_serve_alerts,
    recent_triggers,
)
from invoicing.alerts.services import alert_create, alert_delete
from invoicing.models import Contract
from invoicing.usage_pages import selectors

RECENT = 20


class SelfServeAlertForm(forms.Form):
    name = forms.CharField(max_length=200)
    type = forms.ChoiceField(
        choices=[
            (AlertType.SPEND_THRESHOLD.value, "Spend this period reaches"),
            (AlertType.USAGE_THRESHOLD.value, "Usage of a meter this period reaches"),
        ]
    )
    meter = forms.ChoiceField(required=False, choices=[("", "(spend alerts need no meter)")])
    threshold = forms.DecimalField(max_digits=20, decimal_places=4, min_value=Decimal("0.0001"))
    recurring = forms.BooleanField(required=False, label="Repeat at every multiple")

    def __init__(self, *args: Any, meters: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["meter"].choices = [("", "(spend alerts need no meter)"), *meters]  # type: ignore[attr-defined]


def self_serve_allowed(viewer: Viewer) -> bool:
    return bool(getattr(settings, "ALERTS_SELF_SERVE", True)) and viewer.user is not None


def _plan_ids(viewer: Viewer) -> list[int]:
    return sorted(
        set(
            Contract.objects.filter(customer=viewer.customer).values_list(
                "plan_version__plan_id", flat=True
            )
        )
    )


@usage_page
@require_http_methods(["GET", "POST"])
def alerts_page(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    meters = {m.key: m for m in selectors.meters_for(viewer.customer)}
    choices = [(key, meter.name) for key, meter in meters.items()]
    allowed = self_serve_allowed(viewer)
    form = SelfServeAlertForm(meters=choices)
    status = 200
    if request.method == "POST":
        if not allowed:
            return HttpResponse("Self-serve alerts are not available here.", status=403)
        form = SelfServeAlertForm(request.POST, meters=choices)
        if form.is_valid() and _create(viewer, form, meters):
            return HttpResponseRedirect(f"{viewer.base}alerts/")
        status = 400
    context = {
        "viewer": viewer,
        "customer": viewer.customer,
        "base": viewer.base,
        "tz": viewer.customer.timezone,
        "nav": "alerts",
        "alerts": alerts_for_customer_page(viewer.customer, _plan_ids(viewer)),
        "triggers": recent_triggers(viewer.customer)[:RECENT],
        "self_serve": allowed,
        "form": form,
    }
    return render(request, "usage/alerts.html", context, status=status)


def _create(viewer: Viewer, form: SelfServeAlertForm, meters: dict[str, Any]) -> bool:
    data = form.cleaned_data
    limit = int(getattr(settings, "ALERTS_SELF_SERVE_MAX", 20))
    if customer_self_serve_alerts(viewer.customer).count() >= limit:
        form.add_error(None, f"You can have at most {limit} alerts; delete one first.")
        return False
    meter = meters.get(data["meter"]) if data["type"] == AlertType.USAGE_THRESHOLD else None
    if data["type"] == AlertType.USAGE_THRESHOLD and meter is None:
        form.add_error("meter", "Choose the meter this alert watches.")
        return False
    try:
        alert_create(
            actor=viewer.user,
            name=data["name"],
            type=data["type"],
            customer=viewer.customer,
            meter=meter,
            owner=AlertOwner.CUSTOMER,
            thresholds=[{"value": data["threshold"], "recurring": data["recurring"]}],
        )
    except AppError as exc:
        form.add_error(None, exc.message)
        return False
    return True


@usage_page
@require_http_methods(["POST"])
def alert_remove(request: HttpRequest, viewer: Viewer, alert_id: int) -> HttpResponse:
    if not self_serve_allowed(viewer):
        return HttpResponse("Self-serve alerts are not available here.", status=403)
    alert = customer_self_serve_alerts(viewer.customer).filter(pk=alert_id).first()
    if alert is None:
        return HttpResponse("No such alert of yours.", status=404)
    alert_delete(alert, actor=viewer.user)
    return HttpResponseRedirect(f"{viewer.base}alerts/")
