"""/api/v1/alerts: admin scope writes, read scope reads; a customer-bound key sees and writes
only its customer's alerts (never plan-wide ones)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.selectors import customer_for_key
from billingsite.api.pagination import page_of
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import NotFound
from invoicing.alerts.models import Alert, AlertTrigger, AlertType
from invoicing.alerts.selectors import alerts_visible_to, triggers_for
from invoicing.alerts.services import MAX_THRESHOLDS, alert_create, alert_delete, alert_update
from invoicing.models import Plan
from metering.selectors import meter_by_key

MAX_FILTER_KEYS = 8


class ThresholdSerializer(serializers.Serializer):
    value = serializers.DecimalField(max_digits=24, decimal_places=4)
    recurring = serializers.BooleanField(default=False)


class GroupFilterField(serializers.DictField):
    child = serializers.CharField(max_length=200)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value = super().to_internal_value(data)
        if len(value) > MAX_FILTER_KEYS or any(len(k) > 64 for k in value):
            raise serializers.ValidationError(f"At most {MAX_FILTER_KEYS} keys of 64 characters.")
        return dict(value)


class AlertInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=AlertType.choices)
    customer = serializers.CharField(max_length=128, required=False)
    plan = serializers.CharField(max_length=64, required=False)
    meter = serializers.CharField(max_length=64, required=False)
    group_filter = GroupFilterField(required=False)
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    thresholds = serializers.ListField(
        child=ThresholdSerializer(), min_length=1, max_length=MAX_THRESHOLDS
    )
    enabled = serializers.BooleanField(default=True)


class AlertPatch(AlertInput):
    """Every field optional; the scope (customer or plan) and type cannot change."""

    name = serializers.CharField(max_length=200, required=False)
    thresholds = serializers.ListField(
        child=ThresholdSerializer(), min_length=1, max_length=MAX_THRESHOLDS, required=False
    )
    enabled = serializers.BooleanField(required=False)
    type = None  # type: ignore[assignment]
    customer = None  # type: ignore[assignment]
    plan = None  # type: ignore[assignment]


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    owner = serializers.CharField()
    customer = serializers.CharField(allow_null=True)
    plan = serializers.CharField(allow_null=True)
    meter = serializers.CharField(allow_null=True)
    group_filter = serializers.DictField()
    currency = serializers.CharField()
    thresholds = ThresholdSerializer(many=True)
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class TriggerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    threshold_index = serializers.IntegerField()
    threshold = serializers.CharField(help_text="A decimal, as a string.")
    step = serializers.IntegerField()
    value = serializers.CharField(help_text="The value when it fired: a decimal string.")
    triggered_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_reason = serializers.CharField()


def plain(value: Decimal) -> str:
    """A Decimal as a plain string without trailing zeros ("12", "0.5"): never a float."""
    return f"{value.normalize():f}"


def alert_data(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "name": alert.name,
        "type": alert.type,
        "owner": alert.owner,
        "customer": alert.customer.external_id if alert.customer else None,
        "plan": alert.plan.key if alert.plan else None,
        "meter": alert.meter.key if alert.meter else None,
        "group_filter": alert.group_filter,
        "currency": alert.currency,
        "thresholds": alert.thresholds,
        "enabled": alert.enabled,
        "created_at": alert.created_at,
    }


def trigger_data(trigger: AlertTrigger) -> dict[str, Any]:
    return {
        "id": trigger.pk,
        "customer": trigger.customer.external_id,
        "period_start": trigger.period_start,
        "period_end": trigger.period_end,
        "threshold_index": trigger.threshold_index,
        "threshold": plain(trigger.threshold),
        "step": trigger.step,
        "value": plain(trigger.value),
        "triggered_at": trigger.triggered_at,
        "resolved_at": trigger.resolved_at,
        "resolved_reason": trigger.resolved_reason,
    }


def _references(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    """Turn external ids and keys into objects; a bound key may only name its customer."""
    out = dict(values)
    if "customer" in out:
        out["customer"] = customer_for_key(request_key(request), out["customer"])
    if "plan" in out:
        refuse_bound_key(request, "create plan-wide alerts")
        plan = Plan.objects.filter(key=out["plan"]).first()
        if plan is None:
            raise NotFound(f"No plan with key {out['plan']!r}.")
        out["plan"] = plan
    if "meter" in out:
        out["meter"] = meter_by_key(out["meter"])
    if "thresholds" in out:
        out["thresholds"] = [dict(t) for t in out["thresholds"]]
    return out


def alert_for(request: Request, alert_id: int) -> Alert:
    alert = alerts_visible_to(request_key(request)).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"No alert #{alert_id}.")
    return alert


class AlertListCreate(GenericAPIView):
    queryset = Alert.objects.none()  # for the schema; the views read through selectors

    @extend_schema(responses=AlertOutput(many=True), summary="List alerts (?customer=)")
    def get(self, request: Request) -> Response:
        alerts = alerts_visible_to(request_key(request))
        if "customer" in request.query_params:
            customer = customer_for_key(request_key(request), request.query_params["customer"])
            alerts = alerts.filter(customer=customer)
        page = page_of(self, alerts)
        return self.get_paginated_response([alert_data(a) for a in page])

    @extend_schema(request=AlertInput, responses={201: AlertOutput}, summary="Create an alert")
    def post(self, request: Request) -> Response:
        data = AlertInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = _references(request, dict(data.validated_data))
        alert = alert_create(actor=request_key(request).created_by, **values)
        return Response(alert_data(alert), status=status.HTTP_201_CREATED)


class AlertDetail(GenericAPIView):
    @extend_schema(responses=AlertOutput, summary="An alert")
    def get(self, request: Request, alert_id: int) -> Response:
        return Response(alert_data(alert_for(request, alert_id)))

    @extend_schema(request=AlertPatch, responses=AlertOutput, summary="Change an alert")
    def patch(self, request: Request, alert_id: int) -> Response:
        alert = alert_for(request, alert_id)
        data = AlertPatch(data=request.data)
        data.is_valid(raise_exception=True)
        changes = _references(request, dict(data.validated_data))
        return Response(
            alert_data(alert_update(alert, actor=request_key(request).created_by, **changes))
        )

    @extend_schema(responses={204: None}, summary="Delete an alert and its trigger history")
    def delete(self, request: Request, alert_id: int) -> Response:
        alert_delete(alert_for(request, alert_id), actor=request_key(request).created_by)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertTriggerList(GenericAPIView):
    queryset = AlertTrigger.objects.none()  # for the schema; the views read through selectors

    @extend_schema(responses=TriggerOutput(many=True), summary="An alert's triggers, newest first")
    def get(self, request: Request, alert_id: int) -> Response:
        alert = alert_for(request, alert_id)
        page = page_of(self, triggers_for(alert))
        return self.get_paginated_response([trigger_data(t) for t in page])
