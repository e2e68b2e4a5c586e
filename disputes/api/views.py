"""GET /api/v1/refunds and /api/v1/disputes: read scope; filters customer, status, period
(``created_at`` in ``[start, end)``, ISO 8601); a customer-bound key sees only its customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER
from accounts.models import ApiKeyScope
from billingsite.api.pagination import page_of
from billingsite.errors import AppError
from disputes.api.presenters import refund_data
from disputes.api.refunds import RefundBody, refund_create
from disputes.models import Dispute, Refund
from disputes.selectors import disputes_for_api, refunds_for_api
from disputes.states import DisputeStatus, RefundStatus
from invoicing.api.presenters import money


def _when(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise AppError(
            "validation_error", f"{name} must be an ISO 8601 time with a zone.", details={name: raw}
        )
    return value


def _filters(request: Request, statuses: list[str]) -> dict[str, Any]:
    status = request.query_params.get("status") or None
    if status and status not in statuses:
        raise AppError(
            "validation_error",
            f"Unknown status {status!r}.",
            details={"status": ", ".join(statuses)},
        )
    return {
        "api_key": request_key(request),
        "status": status,
        "customer_external_id": request.query_params.get("customer") or None,
        "start": _when(request, "start"),
        "end": _when(request, "end"),
    }


def dispute_data(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.stripe_id,
        "customer": dispute.customer.external_id if dispute.customer else None,
        "invoice": dispute.invoice.number if dispute.invoice else None,
        "stripe_charge_id": dispute.stripe_charge_id,
        "amount": money(dispute.amount, dispute.currency),
        "currency": dispute.currency,
        "status": dispute.status,
        "reason": dispute.reason,
        "evidence_due_by": dispute.due_by.isoformat() if dispute.due_by else None,
        "is_charge_refundable": dispute.is_charge_refundable,
        "created_at": dispute.created_at.isoformat(),
    }


class RefundList(GenericAPIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Refunds (customer, status, period)")
    def get(self, request: Request) -> Response:
        rows: QuerySet[Refund] = refunds_for_api(**_filters(request, RefundStatus.values))
        page = page_of(self, rows)
        return self.get_paginated_response([refund_data(r) for r in page])

    @extend_schema(
        request=RefundBody,
        responses={201: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Request a refund of an invoice, a payment or a line (guards, four eyes)",
    )
    def post(self, request: Request) -> Response:
        return refund_create(request)


class DisputeList(GenericAPIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Disputes (customer, status, period)")
    def get(self, request: Request) -> Response:
        rows: QuerySet[Dispute] = disputes_for_api(**_filters(request, DisputeStatus.values))
        page = page_of(self, rows)
        return self.get_paginated_response([dispute_data(d) for d in page])
