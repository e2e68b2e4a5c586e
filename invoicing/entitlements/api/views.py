"""Entitlement API: features (admin/read), a customer's entitlements (read, admin grants),
check (read or ingest keys; no side effects), consume and reservations (ingest keys)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.api.permissions import HasScope, scope_allows
from accounts.models import ApiKeyScope
from accounts.selectors import customer_for_key
from billingsite.api.pagination import page_of
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import AppError
from invoicing.entitlements import grants
from invoicing.entitlements import reservations as res
from invoicing.entitlements.api import serializers as s
from invoicing.entitlements.models import Feature, Reservation
from invoicing.entitlements.selectors import entitlement_data, entitlements_for
from invoicing.entitlements.services import (
    Decision,
    entitlement_check,
    entitlement_consume,
)

q = s.quantity


def feature_data(feature: Feature) -> dict[str, Any]:
    return {
        "key": feature.key,
        "name": feature.name,
        "type": feature.type,
        "event_type": feature.usage_event_type,
        "description": feature.description,
    }


def decision_data(decision: Decision) -> dict[str, Any]:
    data = decision.as_dict()
    data["remaining"] = q(decision.remaining)
    return data


def presented(data: dict[str, Any]) -> dict[str, Any]:
    for name in ("limit", "used", "reserved", "remaining", "amount", "final_amount"):
        if name in data:
            data[name] = q(data[name])
    return data


class FeatureListCreate(GenericAPIView):
    queryset = Feature.objects.none()

    @extend_schema(responses=s.FeatureOutput(many=True), summary="List features")
    def get(self, request: Request) -> Response:
        page = page_of(self, Feature.objects.order_by("key"))
        return self.get_paginated_response([feature_data(f) for f in page])

    @extend_schema(
        request=s.FeatureInput, responses={201: s.FeatureOutput}, summary="Create a feature"
    )
    def post(self, request: Request) -> Response:
        refuse_bound_key(request, "create features")
        data = s.FeatureInput(data=request.data)
        data.is_valid(raise_exception=True)
        feature = grants.feature_create(**data.validated_data)
        return Response(feature_data(feature), status=status.HTTP_201_CREATED)


def _feature(key: str) -> Feature:
    """The feature a request body names: an unknown key is a mistake in the body (400), not a
    missing resource at the URL (404, which would say the customer does not exist)."""
    feature = Feature.objects.filter(key=key).first()
    if feature is None:
        raise AppError("unknown_feature", f"No feature {key!r}.", details={"feature": key})
    return feature


class CustomerEntitlements(GenericAPIView):
    queryset = Feature.objects.none()

    @extend_schema(
        responses=s.EntitlementsOutput,
        summary="Every feature with enabled, limit, used, remaining, resets_at, value",
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        at = timezone.now()
        rows = [
            presented(entitlement_data(customer, ent, at=at))
            for ent in entitlements_for(customer, at=at)
        ]
        return Response({"customer": customer.external_id, "entitlements": rows})

    @extend_schema(
        request=s.GrantInput,
        responses={201: s.EntitlementOutput},
        summary="Grant or override one feature for this customer (a contract amendment)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        refuse_bound_key(request, "change entitlements")
        customer = customer_for_key(request_key(request), external_id)
        data = s.GrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        change = grants.FeatureChange(feature=_feature(values.pop("feature")), **values)
        actor = request_key(request).created_by
        grants.customer_feature_override(customer=customer, change=change, actor=actor)
        at = timezone.now()
        ent = entitlements_for(customer, at=at, feature_key=change.feature.key)[0]
        body = presented(entitlement_data(customer, ent, at=at))
        return Response(body, status=status.HTTP_201_CREATED)


class ReadOrIngest(HasScope):
    """Check is asked by the same services that consume (ingest keys) and by read keys."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if super().has_permission(request, view):
            return True
        key = request.auth
        return key is not None and scope_allows(getattr(key, "scope", ""), ApiKeyScope.INGEST)


class Check(GenericAPIView):
    permission_classes = [ReadOrIngest]
    write_scope = ApiKeyScope.READ

    @extend_schema(
        request=s.CheckInput,
        responses=s.DecisionOutput,
        summary="Would this amount be granted? (no side effects)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        data = s.CheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        decision = entitlement_check(
            customer=customer,
            feature_key=data.validated_data["feature"],
            amount=data.validated_data["amount"],
        )
        return Response(decision_data(decision))


class Consume(GenericAPIView):
    write_scope = ApiKeyScope.INGEST

    @extend_schema(
        request=s.ConsumeInput,
        responses=s.DecisionOutput,
        summary="Check and record atomically (a usage event; retries answer the first result)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        data = s.ConsumeInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        decision = entitlement_consume(
            customer=customer,
            feature_key=values["feature"],
            amount=values["amount"],
            idempotency_key=values["idempotency_key"],
            properties=values.get("properties"),
        )
        return Response(decision_data(decision))


def reservation_body(reservation: Reservation | None) -> dict[str, Any] | None:
    return None if reservation is None else presented(res.reservation_data(reservation))


class Reservations(GenericAPIView):
    write_scope = ApiKeyScope.INGEST

    @extend_schema(
        request=s.ReservationInput,
        responses={201: s.ReservationAnswer, 200: s.ReservationAnswer},
        summary="Hold an amount until it expires (201), or refuse (200, allowed false)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        data = s.ReservationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        decision, reservation = res.reservation_create(
            customer=customer,
            feature_key=values["feature"],
            amount=values["amount"],
            idempotency_key=values["idempotency_key"],
            expires_in=values.get("expires_in"),
        )
        body = {**decision_data(decision), "reservation": reservation_body(reservation)}
        code = status.HTTP_201_CREATED if reservation is not None else status.HTTP_200_OK
        return Response(body, status=code)


class ReservationCommit(GenericAPIView):
    write_scope = ApiKeyScope.INGEST

    @extend_schema(
        request=s.CommitInput,
        responses=s.ReservationOutput,
        summary="Settle a hold at its final amount (recorded as a usage event)",
    )
    def post(self, request: Request, external_id: str, reservation: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        data = s.CommitInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = res.reservation_commit(
            customer=customer,
            reservation_id=reservation,
            amount=data.validated_data["amount"],
            properties=data.validated_data.get("properties"),
        )
        return Response(reservation_body(done))


class ReservationRelease(GenericAPIView):
    write_scope = ApiKeyScope.INGEST

    @extend_schema(request=None, responses=s.ReservationOutput, summary="Return a hold")
    def post(self, request: Request, external_id: str, reservation: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        done = res.reservation_release(customer=customer, reservation_id=reservation)
        return Response(reservation_body(done))
