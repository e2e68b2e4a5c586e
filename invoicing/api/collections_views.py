"""Tax rates (admin scope writes, read scope reads) and the accounts-receivable aging report
(read scope; a customer-bound key sees its customer's invoices only)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.models import ApiKeyScope
from billingsite.api.pagination import page_of
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import AppError
from billingsite.money import format_decimal
from invoicing.collections.selectors import BUCKETS, ar_aging, ar_aging_csv
from invoicing.models import TaxRate
from invoicing.models.tax import jurisdiction_validator
from invoicing.tax.services import tax_rate_create


class TaxRateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    jurisdiction = serializers.CharField(
        max_length=6, help_text="ISO 3166: a country (DE) or a country and state (US-CA)."
    )
    rate = serializers.DecimalField(
        max_digits=7, decimal_places=4, min_value=0, max_value=100, help_text="Percent."
    )
    inclusive = serializers.BooleanField(default=False)
    effective_from = serializers.DateField()
    effective_to = serializers.DateField(required=False, allow_null=True)

    def validate_jurisdiction(self, value: str) -> str:
        value = value.strip().upper()
        try:
            jurisdiction_validator(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class TaxRateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    jurisdiction = serializers.CharField()
    rate = serializers.CharField(help_text="Percent, as a decimal string.")
    inclusive = serializers.BooleanField()
    effective_from = serializers.DateField()
    effective_to = serializers.DateField(allow_null=True)


def tax_rate_data(rate: TaxRate) -> dict[str, Any]:
    return {
        "id": rate.pk,
        "name": rate.name,
        "jurisdiction": rate.jurisdiction,
        "rate": format_decimal(rate.rate.normalize()),
        "inclusive": rate.inclusive,
        "effective_from": rate.effective_from,
        "effective_to": rate.effective_to,
    }


class TaxRateListCreate(GenericAPIView):
    read_scope = ApiKeyScope.READ
    write_scope = ApiKeyScope.ADMIN

    def get_queryset(self) -> Any:
        return TaxRate.objects.all()

    @extend_schema(
        responses=TaxRateOutput(many=True),
        summary="Tax rates (?jurisdiction=)",
        parameters=[OpenApiParameter("jurisdiction", str, description="e.g. DE or US-CA")],
    )
    def get(self, request: Request) -> Response:
        rates = TaxRate.objects.all()
        jurisdiction = request.query_params.get("jurisdiction", "")[:6].upper()
        if jurisdiction:
            rates = rates.filter(jurisdiction=jurisdiction)
        page = page_of(self, rates)
        return self.get_paginated_response([tax_rate_data(r) for r in page])

    @extend_schema(
        request=TaxRateInput,
        responses={201: TaxRateOutput},
        summary="Add a tax rate to the built-in tax table",
    )
    def post(self, request: Request) -> Response:
        refuse_bound_key(request, "change the tax table")
        key = request_key(request)
        data = TaxRateInput(data=request.data)
        data.is_valid(raise_exception=True)
        rate = tax_rate_create(**data.validated_data, actor=key.created_by)
        return Response(tax_rate_data(rate), status=status.HTTP_201_CREATED)


class AgingRowOutput(serializers.Serializer):
    currency = serializers.CharField()
    buckets = serializers.DictField(
        child=serializers.CharField(), help_text=f"Amounts due per bucket: {', '.join(BUCKETS)}."
    )
    total = serializers.CharField()
    invoices = serializers.IntegerField()


class AgingReportOutput(serializers.Serializer):
    as_of = serializers.DateTimeField()
    buckets = serializers.ListField(child=serializers.CharField())
    currencies = AgingRowOutput(many=True)


class ArAgingReport(GenericAPIView):
    read_scope = ApiKeyScope.READ
    pagination_class = None  # one row per currency: small and bounded

    @extend_schema(
        responses={200: AgingReportOutput, (200, "text/csv"): OpenApiTypes.STR},
        summary="Accounts-receivable aging: open amounts due per currency and bucket",
        parameters=[
            OpenApiParameter("output", str, enum=["json", "csv"], description="csv for a file")
        ],
    )
    def get(self, request: Request) -> Response | HttpResponse:
        output = request.query_params.get("output", "json")
        if output not in ("json", "csv"):
            raise AppError(
                "validation_error",
                "output is json or csv.",
                details={"output": "Must be json or csv."},
            )
        now = timezone.now()
        rows = ar_aging(now=now, customer_id=request_key(request).customer_id)
        if output == "csv":
            response = HttpResponse(ar_aging_csv(rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="ar-aging.csv"'
            return response
        return Response(
            {
                "as_of": now,
                "buckets": list(BUCKETS),
                "currencies": [
                    {
                        "currency": row.currency,
                        "buckets": {b: format_decimal(row.buckets[b]) for b in BUCKETS},
                        "total": format_decimal(row.total),
                        "invoices": row.invoices,
                    }
                    for row in rows
                ],
            }
        )
