"""``POST /api/v1/customers/{external_id}/usage-links``: an expiring signed link (admin scope;
a customer-bound key only for its own customer, through ``customer_for_key``)."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiKeyScope, UsageLinkPurpose
from accounts.portal.services import DEFAULT_LIFETIME, MAX_LIFETIME, usage_link_create
from accounts.selectors import customer_for_key


class UsageLinkInput(serializers.Serializer):
    expires_in = serializers.IntegerField(
        required=False,
        min_value=60,
        max_value=int(MAX_LIFETIME.total_seconds()),
        help_text="Seconds the link stays valid (default 86400).",
    )


UsageLinkOutput = inline_serializer(
    "UsageLinkOutput", {"url": serializers.URLField(), "expires_at": serializers.DateTimeField()}
)


class UsageLinkCreate(GenericAPIView):
    read_scope = ApiKeyScope.ADMIN
    write_scope = ApiKeyScope.ADMIN
    serializer_class = UsageLinkInput

    @extend_schema(
        request=UsageLinkInput,
        responses={201: UsageLinkOutput},
        summary="Create an expiring, read-only link to the customer's usage pages",
    )
    def post(self, request: Request, external_id: str) -> Response:
        customer = customer_for_key(request.auth, external_id)
        data = UsageLinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        seconds = data.validated_data.get("expires_in")
        issued = usage_link_create(
            customer=customer,
            purpose=UsageLinkPurpose.SHARED,
            api_key=request.auth,
            lifetime=timedelta(seconds=seconds) if seconds else DEFAULT_LIFETIME,
        )
        url = request.build_absolute_uri(reverse("usage:overview", kwargs={"token": issued.token}))
        return Response(
            {"url": url, "expires_at": issued.expires_at}, status=status.HTTP_201_CREATED
        )
