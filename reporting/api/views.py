"""GET /api/v1/exports (the datasets and their schemas) and GET /api/v1/exports/{dataset}
(its rows in cursor order, a page at a time): read scope, for tools that pull into a
warehouse. Exports are account-wide: a key bound to one customer is refused."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import AppError
from billingsite.exports import Dataset, Key, decode_key, encode_key, registered_datasets
from reporting.api.serializers import (
    DatasetListSerializer,
    ExportPageSerializer,
    ExportQuerySerializer,
)
from reporting.services import dataset_or_error


def _account_wide(request: Request) -> None:
    refuse_bound_key(request, "export (exports cover every customer)")


def dataset_data(dataset: Dataset, request: Request) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "version": dataset.version,
        "description": dataset.description,
        "cursor": dataset.cursor,
        "url": request.build_absolute_uri(reverse("api-export", args=[dataset.name])),
        "columns": [
            {
                "name": col.name,
                "type": col.type,
                "description": col.description,
                "nullable": col.nullable,
                "currency_column": col.currency_column or None,
            }
            for col in dataset.columns
        ],
    }


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def encode_cursor(dataset: Dataset, key: Key) -> str:
    raw = json.dumps({"d": dataset.name, "v": dataset.version, "k": encode_key(key)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(dataset: Dataset, cursor: str) -> Key:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["d"] != dataset.name or data["v"] != dataset.version:
            raise ValueError("another dataset or version")
        return decode_key(dataset, data["k"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise AppError(
            "validation_error",
            "Not a cursor from a previous page of this dataset.",
            details={"cursor": "Use the `next` URL as given."},
        ) from exc


class ExportDatasetList(APIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(
        responses=DatasetListSerializer,
        summary="Export datasets and their schemas",
        operation_id="v1_exports_list",
        tags=["exports"],
    )
    def get(self, request: Request) -> Response:
        _account_wide(request)
        return Response({"results": [dataset_data(d, request) for d in registered_datasets()]})


class ExportDatasetRows(APIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", OpenApiTypes.STR, OpenApiParameter.PATH),
            ExportQuerySerializer,
        ],
        responses=ExportPageSerializer,
        summary="A page of a dataset's rows, in cursor order",
        operation_id="v1_exports_rows",
        tags=["exports"],
    )
    def get(self, request: Request, dataset: str) -> Response:
        _account_wide(request)
        found = dataset_or_error(dataset)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        limit = min(
            params.get("limit") or settings.REPORTING_API_PAGE_ROWS,
            settings.REPORTING_API_MAX_PAGE_ROWS,
        )
        after = decode_cursor(found, params["cursor"]) if params.get("cursor") else None
        page = found.page(
            since=params.get("since"), until=params.get("until"), after=after, limit=limit + 1
        )
        more = len(page) > limit
        page = page[:limit]
        next_url = None
        if more:
            query_dict = request.query_params.copy()
            query_dict["cursor"] = encode_cursor(found, page[-1][0])
            next_url = request.build_absolute_uri(f"{request.path}?{query_dict.urlencode()}")
        rows = [{k: json_value(row.get(k)) for k in found.column_names} for _, row in page]
        return Response(
            {"dataset": found.name, "version": found.version, "next": next_url, "results": rows}
        )
