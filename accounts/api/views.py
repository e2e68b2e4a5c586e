"""Customers API: thin views that validate input, call one service, present the result."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.api.authentication import request_key
from accounts.api.serializers import (
    AliasInput,
    AliasOutput,
    CustomerCreateInput,
    CustomerOutput,
    CustomerUpdateInput,
)
from accounts.models import Customer
from accounts.selectors import customer_for_key, customers_visible_to
from billingsite.api.pagination import page_of
from billingsite.api.permissions import refuse_bound_key

# What a customer-bound key may change on its own customer: contact details only. Currency,
# time zone, country, tax id, status and invoice_grace_hours decide what is billed, when and
# with which tax, so they are the operator's (docs/finance-api.md, "customer-bound keys").
BOUND_KEY_WRITABLE = frozenset(
    {"name", "email", "address_line1", "address_line2", "city", "state", "postal_code"}
)


class CustomerListCreate(GenericAPIView):
    serializer_class = CustomerOutput

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no key
            return Customer.objects.none()
        return customers_visible_to(request_key(self.request))

    @extend_schema(responses=CustomerOutput(many=True), summary="List customers")
    def get(self, request: Request) -> Response:
        page = page_of(self, self.get_queryset())
        return self.get_paginated_response(CustomerOutput(page, many=True).data)

    @extend_schema(
        request=CustomerCreateInput, responses={201: CustomerOutput}, summary="Create a customer"
    )
    def post(self, request: Request) -> Response:
        refuse_bound_key(request, "create customers")
        data = CustomerCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_create(**data.validated_data)
        customer = customer_for_key(request_key(request), customer.external_id)
        return Response(CustomerOutput(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetail(GenericAPIView):
    serializer_class = CustomerOutput

    @extend_schema(responses=CustomerOutput, summary="Get a customer by external id")
    def get(self, request: Request, external_id: str) -> Response:
        return Response(CustomerOutput(customer_for_key(request_key(request), external_id)).data)

    @extend_schema(
        request=CustomerUpdateInput, responses=CustomerOutput, summary="Update a customer"
    )
    def patch(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        data = CustomerUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        terms = sorted(set(data.validated_data) - BOUND_KEY_WRITABLE)
        if terms:  # billing terms are the operator's (Finance's), not the customer's own key's
            refuse_bound_key(request, f"change {', '.join(terms)}")
        services.customer_update(customer=customer, **data.validated_data)
        return Response(CustomerOutput(customer_for_key(request_key(request), external_id)).data)


class CustomerAliasCreate(GenericAPIView):
    serializer_class = AliasOutput

    @extend_schema(
        request=AliasInput, responses={201: AliasOutput}, summary="Add an alias to a customer"
    )
    def post(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request_key(request), external_id)
        data = AliasInput(data=request.data)
        data.is_valid(raise_exception=True)
        alias = services.customer_alias_add(customer=customer, alias=data.validated_data["alias"])
        return Response(AliasOutput(alias).data, status=status.HTTP_201_CREATED)
