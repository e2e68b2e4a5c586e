"""Webhook endpoints API (admin scope; keys bound to a customer are refused): thin views that
validate, call one service and present the result."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from billingsite.api.pagination import page_of
from billingsite.api.permissions import NotCustomerBound
from billingsite.webhooks import services
from billingsite.webhooks.api.serializers import (
    ReplayInput,
    ReplayOutput,
    RotateSecretInput,
    WebhookEndpointCreateInput,
    WebhookEndpointOutput,
    WebhookEndpointUpdateInput,
    WebhookEndpointWithSecret,
)
from billingsite.webhooks.selectors import webhook_endpoint_get, webhook_endpoints

ADMIN = "admin"  # accounts.models.ApiKeyScope.ADMIN (the base imports no app)


def _actor(request: Request) -> Any:
    return getattr(request.auth, "created_by", None)


class _WebhookView(GenericAPIView):
    read_scope = ADMIN
    write_scope = ADMIN
    serializer_class = WebhookEndpointOutput

    permission_classes = [*GenericAPIView.permission_classes, NotCustomerBound]
    bound_key_refusal = "manage webhook endpoints (they are the operator's)"


class WebhookEndpointListCreate(_WebhookView):
    def get_queryset(self):  # type: ignore[no-untyped-def]
        return webhook_endpoints()

    @extend_schema(responses=WebhookEndpointOutput(many=True), summary="List webhook endpoints")
    def get(self, request: Request) -> Response:
        page = page_of(self, self.get_queryset())
        return self.get_paginated_response(WebhookEndpointOutput(page, many=True).data)

    @extend_schema(
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointWithSecret},
        summary="Register a webhook endpoint (the answer carries its secret, once)",
    )
    def post(self, request: Request) -> Response:
        data = WebhookEndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(
            **data.validated_data, actor=_actor(request)
        )
        body = WebhookEndpointWithSecret(endpoint, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetail(_WebhookView):
    @extend_schema(responses=WebhookEndpointOutput, summary="Get a webhook endpoint")
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(WebhookEndpointOutput(webhook_endpoint_get(endpoint_id)).data)

    @extend_schema(
        request=WebhookEndpointUpdateInput,
        responses=WebhookEndpointOutput,
        summary="Update a webhook endpoint (enabling it again clears its failure streak)",
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id)
        data = WebhookEndpointUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            endpoint=endpoint, actor=_actor(request), **data.validated_data
        )
        return Response(WebhookEndpointOutput(endpoint).data)

    @extend_schema(responses={204: None}, summary="Delete a webhook endpoint")
    def delete(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id)
        services.webhook_endpoint_delete(endpoint=endpoint, actor=_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointReplay(_WebhookView):
    @extend_schema(
        request=ReplayInput,
        responses={202: ReplayOutput},
        summary="Send again the events since a time (same webhook-id as the first time)",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id)
        data = ReplayInput(data=request.data)
        data.is_valid(raise_exception=True)
        queued = services.webhook_replay(endpoint=endpoint, since=data.validated_data["since"])
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class WebhookEndpointRotateSecret(_WebhookView):
    @extend_schema(
        request=RotateSecretInput,
        responses=WebhookEndpointWithSecret,
        summary="Rotate the signing secret (the old one also signs during the overlap)",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id)
        data = RotateSecretInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            endpoint=endpoint, actor=_actor(request), **data.validated_data
        )
        return Response(WebhookEndpointWithSecret(endpoint, context={"secret": secret}).data)
