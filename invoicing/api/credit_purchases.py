"""Credit top-ups and auto-recharge rules through the API (docs/credits.md).

``POST .../credit-purchases`` opens a purchase (202: charged by the outbox, granted when paid);
``POST .../auto-recharge`` creates or changes the customer's rule for a currency. Writes need
scope ``admin``, a key not bound to a customer, and a creator holding the same permissions as
in the admin.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.acting import api_actor_with
from accounts.api.authentication import request_key
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from accounts.selectors import customer_for_key
from billingsite.api.pagination import page_of
from billingsite.money import amount_of, format_amount, round_line
from invoicing.models import AutoRechargeRule, CreditPurchase
from invoicing.services.credit_topups import auto_recharge_rule_set, credit_top_up_request

PURCHASE = "invoicing.add_creditpurchase"
RULE = "invoicing.change_autorechargerule"


class PurchaseBody(serializers.Serializer):
    amount = serializers.CharField(max_length=40)
    currency = serializers.CharField(min_length=3, max_length=3)


class RuleBody(serializers.Serializer):
    currency = serializers.CharField(min_length=3, max_length=3)
    threshold = serializers.CharField(max_length=40)
    amount = serializers.CharField(max_length=40)
    max_per_month = serializers.IntegerField(min_value=1, max_value=1000, default=3)
    enabled = serializers.BooleanField(default=True)


def _money(value: Any, currency: str) -> str:
    return format_amount(round_line(amount_of(value), currency), currency)


def purchase_data(purchase: CreditPurchase) -> dict[str, Any]:
    return {
        "id": purchase.pk,
        "source": purchase.source,
        "rule": purchase.rule_id,
        "currency": purchase.currency,
        "amount": _money(purchase.amount, purchase.currency),
        "status": purchase.status,
        "credit_grant": purchase.grant_id,
        "stripe_payment_intent_id": purchase.stripe_payment_intent_id or None,
        "failure_code": purchase.failure_code,
        "failure_message": purchase.failure_message,
        "created_at": purchase.created_at,
        "settled_at": purchase.settled_at,
    }


def rule_data(rule: AutoRechargeRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "currency": rule.currency,
        "threshold": _money(rule.threshold, rule.currency),
        "amount": _money(rule.amount, rule.currency),
        "max_per_month": rule.max_per_month,
        "enabled": rule.enabled,
        "stopped_at": rule.stopped_at,
        "stopped_reason": rule.stopped_reason,
    }


class CustomerCreditPurchases(GenericAPIView):
    queryset = CreditPurchase.objects.none()

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A customer's credit purchases (top-ups and auto-recharges)",
        operation_id="v1_credit_purchases_list",
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        rows = CreditPurchase.objects.filter(customer=customer).order_by("-created_at", "-pk")
        page = page_of(self, rows)
        return self.get_paginated_response([purchase_data(p) for p in page])

    @extend_schema(
        request=PurchaseBody,
        responses={202: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Buy prepaid credit (charged on Stripe, granted when the payment succeeds)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        actor = api_actor_with(request, PURCHASE)
        customer = customer_for_key(request_key(request), external_id)
        body = PurchaseBody(data=request.data)
        body.is_valid(raise_exception=True)

        def buy() -> Response:
            purchase = credit_top_up_request(customer=customer, actor=actor, **body.validated_data)
            return Response(purchase_data(purchase), status=status.HTTP_202_ACCEPTED)

        return idempotent(request, buy)


class CustomerAutoRecharge(GenericAPIView):
    queryset = AutoRechargeRule.objects.none()

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A customer's auto-recharge rules",
        operation_id="v1_auto_recharge_list",
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        page = page_of(self, AutoRechargeRule.objects.filter(customer=customer).order_by("pk"))
        return self.get_paginated_response([rule_data(rule) for rule in page])

    @extend_schema(
        request=RuleBody,
        responses=OpenApiTypes.OBJECT,
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Set the auto-recharge rule for a currency (below threshold, buy amount)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        api_actor_with(request, RULE)
        customer = customer_for_key(request_key(request), external_id)
        body = RuleBody(data=request.data)
        body.is_valid(raise_exception=True)

        def set_rule() -> Response:
            rule = auto_recharge_rule_set(customer=customer, **body.validated_data)
            return Response(rule_data(rule))

        return idempotent(request, set_rule)
