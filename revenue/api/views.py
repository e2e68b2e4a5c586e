"""GET /api/v1/reports/month-close?month=YYYY-MM: the month close of every currency (read
scope). Company-wide figures: a key bound to one customer is refused."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from billingsite.api.permissions import refuse_bound_key
from revenue.api.serializers import MonthCloseSerializer
from revenue.selectors import Month, month_close


class MonthCloseView(APIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(
        summary="Month close: deferred revenue roll-forward, recognized revenue, billed vs "
        "collected, receivables, tie-out to the invoices",
        parameters=[
            OpenApiParameter(
                "month",
                OpenApiTypes.STR,
                required=True,
                description="YYYY-MM",
                pattern=r"^\d{4}-\d{2}$",
            )
        ],
        responses=MonthCloseSerializer,
    )
    def get(self, request: Request) -> Response:
        refuse_bound_key(request, "read the month close (it covers every customer)")
        month = Month.parse(request.query_params.get("month", ""))
        return Response(month_close(month))
