"""Plans and contracts for automation: admin scope writes, read scope reads."""

from __future__ import annotations

from typing import Any

from django.db import transaction
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
from billingsite.api.permissions import refuse_bound_key
from invoicing.models import Cadence, ChargeKind, CollectionMethod, Contract, Plan
from invoicing.selectors.catalog import (
    contracts_visible_to,
    plan_version_by_key,
    plans_with_versions,
)
from invoicing.services.catalog import plan_create, plan_version_create
from invoicing.services.contracts import contract_create


class ChargeInput(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ChargeKind.choices)
    meter_key = serializers.CharField(max_length=64, required=False, allow_blank=True)
    price = serializers.JSONField()


class PlanInput(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    currency = serializers.CharField(min_length=3, max_length=3)
    description = serializers.CharField(required=False, allow_blank=True)
    cadence = serializers.ChoiceField(choices=Cadence.choices, default=Cadence.MONTHLY)
    charges = ChargeInput(many=True)


def plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "key": plan.key,
        "name": plan.name,
        "currency": plan.currency,
        "description": plan.description,
        "versions": [
            {
                "version": v.version,
                "cadence": v.cadence,
                "charges": [
                    {
                        "key": c.key,
                        "name": c.name,
                        "kind": c.kind,
                        "meter_key": c.meter_key or None,
                        "price": c.price,
                    }
                    for c in v.charges.all()
                ],
            }
            for v in plan.versions.all()
        ],
    }


class PlanListCreate(GenericAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="List plans with versions and charges")
    def get(self, request: Request) -> Response:
        page = page_of(self, plans_with_versions())
        return self.get_paginated_response([plan_data(plan) for plan in page])

    @extend_schema(
        request=PlanInput,
        responses={201: OpenApiTypes.OBJECT},
        summary="Create a plan and its first version",
    )
    def post(self, request: Request) -> Response:
        refuse_bound_key(request, "create plans")
        data = PlanInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with transaction.atomic():
            plan = plan_create(
                key=values["key"],
                name=values["name"],
                currency=values["currency"],
                description=values.get("description", ""),
            )
            plan_version_create(
                plan=plan, cadence=values["cadence"], charges=[dict(c) for c in values["charges"]]
            )
        return Response(
            plan_data(plans_with_versions().get(pk=plan.pk)), status=status.HTTP_201_CREATED
        )


class ContractInput(serializers.Serializer):
    customer = serializers.CharField(max_length=128)
    plan = serializers.CharField(max_length=64)
    plan_version = serializers.IntegerField(required=False, min_value=1)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    billing_anchor_day = serializers.IntegerField(required=False, min_value=1, max_value=31)
    timezone = serializers.CharField(required=False, max_length=64)
    net_days = serializers.IntegerField(required=False, min_value=0, max_value=365)
    collection_method = serializers.ChoiceField(choices=CollectionMethod.choices, required=False)


def contract_data(contract: Contract) -> dict[str, Any]:
    return {
        "id": contract.pk,
        "customer": contract.customer.external_id,
        "plan": contract.plan_version.plan.key,
        "plan_version": contract.plan_version.version,
        "currency": contract.currency,
        "start_date": contract.start_date,
        "end_date": contract.end_date,
        "billing_anchor_day": contract.billing_anchor_day,
        "timezone": contract.timezone,
        "net_days": contract.net_days,
        "collection_method": contract.collection_method,
    }


class ContractListCreate(GenericAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="List contracts (?customer=)")
    def get(self, request: Request) -> Response:
        contracts = contracts_visible_to(request_key(request))
        if "customer" in request.query_params:
            customer = customer_for_key(request_key(request), request.query_params["customer"])
            contracts = contracts.filter(customer=customer)
        page = page_of(self, contracts)
        return self.get_paginated_response([contract_data(c) for c in page])

    @extend_schema(
        request=ContractInput,
        responses={201: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Put a customer on a plan version",
    )
    def post(self, request: Request) -> Response:
        data = ContractInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        customer = customer_for_key(request_key(request), values.pop("customer"))
        if request_key(request).customer_id is None:  # a bound key keeps creating for its customer
            api_actor_with(request, "invoicing.add_contract")
        version = plan_version_by_key(values.pop("plan"), values.pop("plan_version", None))
        if "timezone" in values:
            values["timezone_name"] = values.pop("timezone")

        def create() -> Response:
            contract = contract_create(customer=customer, plan_version=version, **values)
            return Response(contract_data(contract), status=status.HTTP_201_CREATED)

        return idempotent(request, create)
