"""Contracts for Finance through the API: one contract with what is in force, its end, and its
amendments (list, preview, save). Writes need scope ``admin``, a key not bound to a customer,
and a creator holding the admin's permission (``invoicing.change_contract``); every change is
made, and audited, as that creator, through the same services as the admin's "Amend" page.
"""

from __future__ import annotations

from typing import Any, cast

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.acting import api_actor_with
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from accounts.models import ApiKey
from billingsite.errors import NotFound
from invoicing.api.amendment_input import AmendmentBody, EndBody, amendment_input
from invoicing.api.catalog_views import contract_data
from invoicing.api.presenters import computation_data, money
from invoicing.models import Contract, ContractAmendment
from invoicing.periods import local_date
from invoicing.selectors.catalog import contracts_visible_to
from invoicing.selectors.contracts import terms_data, terms_in_force
from invoicing.services.contracts import AmendmentInput, contract_amend
from invoicing.services.previews import amendment_preview
from invoicing.usage import metering_usage

CHANGE = "invoicing.change_contract"
PREVIEW = OpenApiParameter(
    "preview",
    OpenApiTypes.BOOL,
    description="true: answer the impact on the next invoice (before, after, difference) "
    "without saving anything.",
)


def _contract(request: Request, contract_id: int) -> Contract:
    found = contracts_visible_to(cast(ApiKey, request.auth)).filter(pk=contract_id).first()
    if found is None:
        raise NotFound(f"No contract {contract_id}.")
    return found


def amendment_data(amendment: ContractAmendment) -> dict[str, Any]:
    version = amendment.plan_version
    return {
        "id": amendment.pk,
        "contract": amendment.contract_id,
        "effective_from": amendment.effective_date,
        "plan_version": version.version if version else None,
        "note": amendment.note,
        "changes": amendment.changes,
        "created_by": amendment.created_by.get_username() if amendment.created_by else None,
        "created_at": amendment.created_at,
    }


class ContractDetail(GenericAPIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A contract and the terms in force today",
        operation_id="v1_contract_detail",
    )
    def get(self, request: Request, contract_id: int) -> Response:
        contract = _contract(request, contract_id)
        day = local_date(timezone.now(), contract.timezone)
        in_force = terms_data(terms_in_force(contract, day))
        return Response({**contract_data(contract), "in_force": in_force})


class ContractEnd(GenericAPIView):
    @extend_schema(
        request=EndBody,
        responses=OpenApiTypes.OBJECT,
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="End a contract (an amendment from its end date)",
    )
    def post(self, request: Request, contract_id: int) -> Response:
        actor = api_actor_with(request, CHANGE)
        contract = _contract(request, contract_id)
        body = EndBody(data=request.data)
        body.is_valid(raise_exception=True)
        end = body.validated_data["end_date"]

        def end_contract() -> Response:
            change = AmendmentInput(
                effective_date=end, end_date=end, note=body.validated_data.get("note", "")
            )
            amendment = contract_amend(contract=contract, change=change, actor=actor)
            return Response(
                {**contract_data(_contract(request, contract_id)), "amendment": amendment.pk}
            )

        return idempotent(request, end_contract)


class ContractAmendments(GenericAPIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A contract's amendments, oldest first",
        operation_id="v1_contract_amendments_list",
    )
    def get(self, request: Request, contract_id: int) -> Response:
        contract = _contract(request, contract_id)
        rows = contract.amendments.select_related("plan_version", "created_by").order_by("pk")
        page = self.paginate_queryset(rows) or []
        return self.get_paginated_response([amendment_data(a) for a in page])

    @extend_schema(
        request=AmendmentBody,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT},
        parameters=[PREVIEW, IDEMPOTENCY_PARAMETER],
        summary="Amend a contract from a date, or preview the impact (?preview=true)",
    )
    def post(self, request: Request, contract_id: int) -> Response:
        actor = api_actor_with(request, CHANGE)
        contract = _contract(request, contract_id)
        body = AmendmentBody(data=request.data, context={"contract": contract})
        body.is_valid(raise_exception=True)
        change = amendment_input(contract, body.validated_data)
        if request.query_params.get("preview", "").lower() in ("true", "1", "yes"):
            return Response(_preview(contract, change))

        def save() -> Response:
            amendment = contract_amend(contract=contract, change=change, actor=actor)
            return Response(amendment_data(amendment), status=status.HTTP_201_CREATED)

        return idempotent(request, save)


def _preview(contract: Contract, change: AmendmentInput) -> dict[str, Any]:
    impact = amendment_preview(
        contract=contract, change=change, at=timezone.now(), usage=metering_usage
    )
    currency = impact.after.currency
    return {
        "preview": True,
        "contract": contract.pk,
        "currency": currency,
        "period_start": impact.after.period.start,
        "period_end": impact.after.period.end,
        "before": computation_data(contract, impact.before),
        "after": computation_data(contract, impact.after),
        "difference": money(impact.difference, currency),
        "in_force": terms_data(terms_in_force(contract, change.effective_date)),
    }
