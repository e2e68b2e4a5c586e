"""Refunds for Finance through the API: request one (from an invoice, a payment or an invoice
line), approve or reject one above the threshold. The same service as the admin's "Request a
refund" page runs, with the same guards (captured payment, paid invoice, no open dispute, no
over-refund, under the payment's row lock) and four eyes: above
``REFUND_APPROVAL_THRESHOLD`` the refund waits for a different person holding
``disputes.approve_refund``. An API key acts for the staff user who created it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.acting import api_actor_with, api_person
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from billingsite.errors import AppError, NotFound
from billingsite.money import amount_of
from disputes.api.presenters import refund_data
from disputes.models import Refund
from disputes.services.refunds import (
    APPROVE_PERMISSION,
    REQUEST_PERMISSION,
    refund_approve,
    refund_reject,
    refund_request,
)
from disputes.states import RefundReason
from invoicing.api.fields import DecimalText
from invoicing.models import InvoiceLine, Payment, PaymentStatus

MAX_TEXT = 2000
SOURCES = ("invoice", "payment", "line")


class RefundBody(serializers.Serializer):
    invoice = serializers.CharField(max_length=64, required=False, help_text="Invoice number.")
    payment = serializers.CharField(
        max_length=255, required=False, help_text="Stripe charge (ch_) or payment intent (pi_)."
    )
    line = serializers.IntegerField(min_value=1, required=False, help_text="Invoice line id.")
    amount = DecimalText(required=False, help_text="Omit: all that is left (a line: all of it).")
    reason = serializers.ChoiceField(choices=RefundReason.choices)
    reason_text = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)
    internal_note = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        named = [name for name in SOURCES if attrs.get(name) is not None]
        if len(named) != 1:
            raise serializers.ValidationError(
                {"invoice": "Name exactly one of invoice, payment or line."}
            )
        return attrs


class DecisionBody(serializers.Serializer):
    note = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)


def _captured(payments: Any) -> Payment:
    payment = (
        payments.filter(status=PaymentStatus.SUCCEEDED)
        .select_related("invoice", "customer")
        .order_by("-pk")
        .first()
    )
    if payment is None:
        raise AppError("no_captured_payment", "There is no captured payment to refund.")
    return payment  # type: ignore[no-any-return]


def refund_source(
    values: dict[str, Any],
) -> tuple[Payment, Decimal | None, dict[int, Decimal] | None]:
    """The payment to refund and how much: (payment, amount or None, lines or None)."""
    if values.get("invoice"):
        return (
            _captured(Payment.objects.filter(invoice__number=values["invoice"])),
            (values.get("amount")),
            None,
        )
    if values.get("payment"):
        ref = values["payment"]
        payment = Payment.objects.filter(stripe_charge_id=ref) | Payment.objects.filter(
            stripe_payment_intent_id=ref
        )
        found = payment.select_related("invoice", "customer").first()
        if found is None:
            raise NotFound(f"No payment {ref!r}.")
        return found, values.get("amount"), None
    line = InvoiceLine.objects.filter(pk=values["line"]).first()
    if line is None:
        raise NotFound(f"No invoice line {values['line']}.")
    amount = values.get("amount")
    if amount is None:
        amount = amount_of(line.amount)
    return _captured(Payment.objects.filter(invoice_id=line.invoice_id)), None, {line.pk: amount}


def refund_detail(refund: Refund) -> dict[str, Any]:
    return {
        **refund_data(refund),
        "needs_approval": refund.needs_approval,
        "requested_by": refund.requested_by.get_username() if refund.requested_by else None,
        "approved_by": refund.approved_by.get_username() if refund.approved_by else None,
        "lines": refund.lines,
    }


def _refund(refund_id: int) -> Refund:
    found = (
        Refund.objects.select_related("customer", "invoice", "payment", "requested_by")
        .filter(pk=refund_id)
        .first()
    )
    if found is None:
        raise NotFound(f"No refund {refund_id}.")
    return found


def refund_create(request: Request) -> Response:
    """``POST /api/v1/refunds`` (mounted on the list's view)."""
    actor = api_actor_with(request, REQUEST_PERMISSION)
    body = RefundBody(data=request.data)
    body.is_valid(raise_exception=True)
    values = body.validated_data
    payment, amount, lines = refund_source(values)

    def create() -> Response:
        refund = refund_request(
            payment=payment,
            amount=amount,
            lines=lines,
            reason=values["reason"],
            reason_text=values.get("reason_text", ""),
            internal_note=values.get("internal_note", ""),
            actor=actor,
        )
        return Response(refund_detail(_refund(refund.pk)), status=status.HTTP_201_CREATED)

    return idempotent(request, create)


class RefundApprove(GenericAPIView):
    @extend_schema(
        request=DecisionBody,
        responses=OpenApiTypes.OBJECT,
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Approve a refund above the threshold (a person other than the requester)",
    )
    def post(self, request: Request, refund_id: int) -> Response:
        actor = api_person(request, APPROVE_PERMISSION)
        body = DecisionBody(data=request.data)
        body.is_valid(raise_exception=True)
        refund = _refund(refund_id)

        def approve() -> Response:
            refund_approve(refund=refund, actor=actor, note=body.validated_data.get("note", ""))
            return Response(refund_detail(_refund(refund_id)))

        return idempotent(request, approve)


class RefundReject(GenericAPIView):
    @extend_schema(
        request=DecisionBody,
        responses=OpenApiTypes.OBJECT,
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Reject a refund waiting for approval (note required)",
    )
    def post(self, request: Request, refund_id: int) -> Response:
        actor = api_person(request, APPROVE_PERMISSION)
        body = DecisionBody(data=request.data)
        body.is_valid(raise_exception=True)
        refund = _refund(refund_id)

        def reject() -> Response:
            refund_reject(refund=refund, actor=actor, note=body.validated_data.get("note", ""))
            return Response(refund_detail(_refund(refund_id)))

        return idempotent(request, reject)
