"""Corrections of issued invoices for automation: credit notes (list, read, create), void,
re-issue. Invoices and credit notes are named by their numbers, as in the rest of the API.

Reads need scope ``read``; writes need ``admin`` and a key that is not bound to a customer (a
customer's key must not lower what that customer owes). Writes take an optional
``Idempotency-Key`` header. Credit notes created here reduce the amount due or credit the
customer's balance; credit notes that feed a refund are issued by the refund workflow when
Stripe confirms the refund.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from accounts.models import ApiKeyScope
from accounts.selectors import customer_for_key_by_identifier
from billingsite.api.pagination import page_of
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import AppError
from billingsite.money import MoneyError, parse_decimal
from invoicing.api.presenters import credit_note_data, invoice_data
from invoicing.models import CreditNoteOutcome, Invoice
from invoicing.selectors.credit_notes import credit_note_by_number, credit_notes_visible_to
from invoicing.selectors.invoices import invoice_by_number, invoices_visible_to
from invoicing.services.corrections import invoice_replace
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.invoices import invoice_void

MAX_REASON_LENGTH = 2000
MAX_LINES = 500
MANUAL_OUTCOMES = [CreditNoteOutcome.REDUCE_AMOUNT_DUE, CreditNoteOutcome.CUSTOMER_CREDIT]

logger = logging.getLogger(__name__)


class CreditNoteLineInput(serializers.Serializer):
    line_id = serializers.IntegerField(min_value=1, help_text="An invoice line's id.")
    amount = serializers.JSONField(help_text='How much of the line to credit, e.g. "12.50".')


class CreditNoteInput(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH)
    outcome = serializers.ChoiceField(
        choices=MANUAL_OUTCOMES,
        default=CreditNoteOutcome.REDUCE_AMOUNT_DUE,
        help_text="reduce_amount_due (unpaid invoices) or customer_credit (a paid credit grant). "
        "Refunds issue their own credit notes.",
    )
    lines: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=CreditNoteLineInput(),
        required=False,
        max_length=MAX_LINES,
        help_text="Omit to credit everything still creditable.",
    )

    def validate_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not lines:
            raise serializers.ValidationError("Give at least one line, or omit lines.")
        ids = [line["line_id"] for line in lines]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError("Each line_id may appear once.")
        return lines


def _amounts(lines: list[dict[str, Any]] | None) -> dict[int, Decimal] | None:
    if lines is None:
        return None
    amounts: dict[int, Decimal] = {}
    problems: dict[str, Any] = {}
    for index, line in enumerate(lines):
        try:
            amounts[line["line_id"]] = parse_decimal(line["amount"], f"lines[{index}].amount")
        except MoneyError as exc:
            problems.update(exc.details)
    if problems:
        raise AppError("invalid_decimal", "Line amounts must be decimal strings.", details=problems)
    return amounts


class CreditNoteList(GenericAPIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Credit notes (?customer=&invoice=)",
        operation_id="v1_credit_notes_list",
        parameters=[
            OpenApiParameter("customer", str, description="A customer's external id or alias"),
            OpenApiParameter("invoice", str, description="An invoice number"),
        ],
    )
    def get(self, request: Request) -> Response:
        named = request.query_params.get("customer")
        # An external id or an alias, as on the other list endpoints' ``?customer=``.
        customer = customer_for_key_by_identifier(request_key(request), named) if named else None
        notes = credit_notes_visible_to(
            request_key(request),
            customer=customer,
            invoice_number=request.query_params.get("invoice"),
        )
        page = page_of(self, notes)
        return self.get_paginated_response([credit_note_data(note) for note in page])


class CreditNoteDetail(GenericAPIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A credit note by its number")
    def get(self, request: Request, number: str) -> Response:
        return Response(credit_note_data(credit_note_by_number(request_key(request), number)))


class InvoiceCreditNoteCreate(GenericAPIView):
    write_scope = ApiKeyScope.ADMIN

    @extend_schema(
        request=CreditNoteInput,
        responses={201: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Credit an issued invoice, in full or by line",
    )
    def post(self, request: Request, number: str) -> Response:
        refuse_bound_key(request, "correct invoices")
        invoice = invoice_by_number(request_key(request), number)
        data = CreditNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        lines = _amounts(values.get("lines"))

        def create() -> Response:
            note = credit_note_create(
                invoice=invoice,
                reason=values["reason"],
                outcome=values["outcome"],
                lines=lines,
                actor=request_key(request).created_by,
            )
            note = credit_note_by_number(request_key(request), note.number)
            _audit(request, "credited", number)
            return Response(credit_note_data(note), status=status.HTTP_201_CREATED)

        return idempotent(request, create)


class VoidInput(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH)


class ReissueInput(serializers.Serializer):
    void_reason = serializers.CharField(
        max_length=MAX_REASON_LENGTH,
        required=False,
        help_text="Void the invoice first with this reason (it must be unpaid); omit when it "
        "is void already.",
    )


def _audit(request: Request, action: str, number: str) -> None:
    """Changes through the API are made by the key's creator (the transitions' actor); the log
    names the key they came through."""
    key = request_key(request)
    logger.info(
        "invoice %s via the API",
        action,
        extra={
            "event": f"invoice_{action}",
            "invoice": number,
            "api_key_prefix": key.prefix,
            "api_key_name": key.name,
        },
    )


def _invoice(number: str) -> Invoice:
    return invoices_visible_to(None).get(number=number)


class InvoiceVoid(GenericAPIView):
    write_scope = ApiKeyScope.ADMIN

    @extend_schema(
        request=VoidInput,
        responses=OpenApiTypes.OBJECT,
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Void an unpaid issued invoice (reason required)",
    )
    def post(self, request: Request, number: str) -> Response:
        refuse_bound_key(request, "correct invoices")
        invoice = invoice_by_number(request_key(request), number)
        data = VoidInput(data=request.data)
        data.is_valid(raise_exception=True)

        def void() -> Response:
            invoice_void(
                invoice=invoice,
                reason=data.validated_data["reason"],
                now=timezone.now(),
                actor=request_key(request).created_by,
            )
            _audit(request, "voided", number)
            return Response(invoice_data(_invoice(number)))

        return idempotent(request, void)


class InvoiceReissue(GenericAPIView):
    write_scope = ApiKeyScope.ADMIN

    @extend_schema(
        request=ReissueInput,
        responses={201: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Issue a replacement for a voided invoice (optionally voiding it)",
    )
    def post(self, request: Request, number: str) -> Response:
        refuse_bound_key(request, "correct invoices")
        invoice = invoice_by_number(request_key(request), number)
        data = ReissueInput(data=request.data)
        data.is_valid(raise_exception=True)

        def reissue() -> Response:
            void_reason = data.validated_data.get("void_reason")
            replacement = invoice_replace(
                invoice=invoice,
                now=timezone.now(),
                actor=request_key(request).created_by,
                finalize=True,
                void_reason=void_reason,
            )
            _audit(request, "reissued", number)
            return Response(
                invoice_data(_invoice(str(replacement.number))), status=status.HTTP_201_CREATED
            )

        return idempotent(request, reissue)
