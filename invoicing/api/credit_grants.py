"""Credit grants through the API, beside the ledger (``GET .../credits``): grant credit to a
customer, list its grants, void what is left of one. Writes need scope ``admin``, a key not
bound to a customer, and a creator holding ``invoicing.add_creditgrant`` (as in the admin);
the grant and its ledger entries name that creator.
"""

from __future__ import annotations

from typing import cast

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.acting import api_actor_with
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from accounts.models import ApiKey, Customer
from accounts.selectors import customer_for_key
from billingsite.errors import NotFound
from invoicing.api.amendment_input import GrantBody
from invoicing.api.presenters import grant_data
from invoicing.models import CreditEntry, CreditGrant
from invoicing.selectors.credits import grants_with_balance
from invoicing.services.credits import credit_grant_create, credit_grant_void

GRANT = "invoicing.add_creditgrant"


class CreditGrantBody(GrantBody):
    currency = serializers.CharField(min_length=3, max_length=3)


class VoidBody(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


def _grants(customer: Customer) -> QuerySet[CreditGrant]:
    entries = CreditEntry.objects.select_related("invoice").order_by("created_at", "pk")
    return (
        grants_with_balance(customer)
        .prefetch_related(Prefetch("entries", queryset=entries))
        .order_by("pk")
    )


def _grant(customer: Customer, grant_id: int) -> CreditGrant:
    found = _grants(customer).filter(pk=grant_id).first()
    if found is None:
        raise NotFound(f"No credit grant {grant_id} for this customer.")
    return found


class CustomerCreditGrants(GenericAPIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A customer's credit grants with balances and entries",
        operation_id="v1_credit_grants_list",
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(cast(ApiKey, request.auth), external_id)
        page = self.paginate_queryset(_grants(customer)) or []
        return self.get_paginated_response([grant_data(grant) for grant in page])

    @extend_schema(
        request=CreditGrantBody,
        responses={201: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Grant credit to a customer (promotional or paid)",
    )
    def post(self, request: Request, external_id: str) -> Response:
        actor = api_actor_with(request, GRANT)
        customer = customer_for_key(cast(ApiKey, request.auth), external_id)
        body = CreditGrantBody(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        values.setdefault("effective_at", timezone.now())

        def grant() -> Response:
            created = credit_grant_create(customer=customer, actor=actor, **values)
            return Response(
                grant_data(_grant(customer, created.pk)), status=status.HTTP_201_CREATED
            )

        return idempotent(request, grant)


class CreditGrantVoid(GenericAPIView):
    @extend_schema(
        request=VoidBody,
        responses=OpenApiTypes.OBJECT,
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Void what is left of a credit grant (reason required)",
    )
    def post(self, request: Request, external_id: str, grant_id: int) -> Response:
        actor = api_actor_with(request, GRANT)
        customer = customer_for_key(cast(ApiKey, request.auth), external_id)
        found = _grant(customer, grant_id)
        body = VoidBody(data=request.data)
        body.is_valid(raise_exception=True)

        def void() -> Response:
            credit_grant_void(grant=found, reason=body.validated_data["reason"], actor=actor)
            return Response(grant_data(_grant(customer, grant_id)))

        return idempotent(request, void)
