"""``GET /api/v1/events/{event_id}/status``: the outcome decided for one event id (in log
mode, after a sink applied it; see metering/eventlog/status.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.models import ApiKeyScope
from metering.eventlog.status import event_status


class EventStatusOutput(serializers.Serializer):
    id = serializers.CharField()
    namespace = serializers.CharField(help_text='"" for native ids; a vendor adapter\'s name')
    status = serializers.CharField(help_text="accepted | unattributed | rejected")
    customer = serializers.CharField(allow_null=True)
    customer_ref = serializers.CharField(allow_null=True, help_text="The customer as sent.")
    received_at = serializers.DateTimeField(allow_null=True)
    late = serializers.BooleanField(help_text="Its period was already invoiced.")
    conflicts = serializers.IntegerField(help_text="Sends with this id and other content.")
    rejections = serializers.IntegerField(help_text="Sends with this id that were rejected.")


class EventStatus(GenericAPIView):
    read_scope = ApiKeyScope.READ
    serializer_class = EventStatusOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("event_id", str, OpenApiParameter.PATH),
            OpenApiParameter("namespace", str, description='Id namespace (default "").'),
        ],
        responses={200: EventStatusOutput},
        summary="What became of one event id (accepted, unattributed, conflicts, rejections)",
        description=(
            "In log mode (TALLY_EVENT_LOG) the ingest answer is `queued` or `rejected`; the "
            "outcome a sink decides later is read here. 404 `event_not_found` until then."
        ),
    )
    def get(self, request: Request, event_id: str) -> Response:
        body = event_status(
            api_key=request_key(request),
            event_id=event_id,
            namespace=request.query_params.get("namespace", ""),
        )
        return Response(EventStatusOutput(body).data)
