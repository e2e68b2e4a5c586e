"""Invoicing API: thin views that validate input, call one selector or service, present it."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.models import ApiKeyScope
from accounts.selectors import customer_for_key
from billingsite.api.pagination import page_of
from billingsite.errors import AppError
from invoicing.api.presenters import computation_data, grant_data, invoice_data, money
from invoicing.models import CreditEntry
from invoicing.pricing import (
    PriceSpecError,
    parse_price_spec,
    rate_events,
    rate_quantity,
)
from invoicing.selectors.credits import customer_credit_summary, grants_with_balance
from invoicing.selectors.invoices import invoice_by_number, invoices_for_customer, upcoming_invoice


class PreviewInput(serializers.Serializer):
    currency = serializers.CharField(max_length=3)
    price = serializers.JSONField()
    quantity = serializers.JSONField(required=False)
    events = serializers.ListField(child=serializers.JSONField(), required=False, max_length=10000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("quantity" in attrs) == ("events" in attrs):
            raise serializers.ValidationError(
                {"quantity": 'Send either "quantity" or "events", not both or neither.'}
            )
        return attrs


def rate_preview(data: dict[str, Any]) -> dict[str, Any]:
    """Price a spec the way invoices do; every pricing problem becomes a 400 with details."""
    try:
        spec = parse_price_spec(data["price"])
        if "events" in data:
            rating = rate_events(spec, data["events"], data["currency"])
        else:
            rating = rate_quantity(spec, data["quantity"], data["currency"])
    except PriceSpecError as exc:
        details = {f"price.{path}": problem for path, problem in exc.details.items()}
        raise AppError("invalid_price", exc.message, details=details) from exc
    return rating.as_dict()


class PricingPreview(GenericAPIView):
    read_scope = ApiKeyScope.READ
    write_scope = ApiKeyScope.READ  # a preview writes nothing

    @extend_schema(
        request=PreviewInput,
        responses=OpenApiTypes.OBJECT,
        summary="Price a quantity or events with a price spec",
    )
    def post(self, request: Request) -> Response:
        data = PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(rate_preview(dict(data.validated_data)))


class CustomerInvoiceList(GenericAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A customer's issued invoices")
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        page = page_of(self, invoices_for_customer(request_key(request), customer))
        return self.get_paginated_response([invoice_data(inv) for inv in page])


class UpcomingInvoice(GenericAPIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="The current period's invoice so far (same code as finalization)",
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        contract, computation = upcoming_invoice(customer, at=timezone.now())
        return Response(computation_data(contract, computation))


class InvoiceDetail(GenericAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="An invoice by its number")
    def get(self, request: Request, number: str) -> Response:
        return Response(invoice_data(invoice_by_number(request_key(request), number)))


class CustomerCredits(GenericAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Credit grants, ledger and balance")
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        entries = CreditEntry.objects.select_related("invoice").order_by("created_at", "pk")
        grants = (
            grants_with_balance(customer)
            .prefetch_related(Prefetch("entries", queryset=entries))
            .order_by("pk")
        )
        balances = customer_credit_summary(customer, at=timezone.now())
        return Response(
            {
                "customer": customer.external_id,
                "balances": {cur: money(amount, cur) for cur, amount in balances.items()},
                "grants": [grant_data(grant) for grant in grants],
            }
        )
