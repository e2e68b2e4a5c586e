"""Metering API: thin views that validate input, call one service or selector, present it."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.fields import DateTimeField
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_key
from accounts.models import ApiKeyScope, Customer
from accounts.selectors import customer_for_key
from billingsite.api.pagination import page_of
from billingsite.api.parsers import StrictJSONParser
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import AppError
from metering import metrics, services
from metering.api import serializers as s
from metering.api.body import read_body
from metering.ingest.limits import ingest_limits
from metering.ingest.wire import decode_body, events_from_document
from metering.models import Meter, UsageEvent
from metering.selectors import UsageSeries, events_filtered, meter_by_key, usage_series

INGEST_DESCRIPTION = (
    "Send up to {max_events} events per request (at most {max_bytes} bytes; gzip bodies with "
    "`Content-Encoding: gzip` inflate to at most {max_inflated} bytes). Timestamps may be at "
    "most {future} s in the future and {age} days in the past; properties at most {props} bytes "
    'each. Numbers a meter may read (JSON numbers, and strings such as `"12.5"` or '
    '`"1e3"` that read as numbers, anywhere in properties) must have an absolute value below '
    "10^20 (every 64-bit integer fits); an event with one outside that range is rejected with "
    "reason `value_out_of_range`. Every event gets an outcome, in input order: accepted, "
    "duplicate (same id and content already stored), conflict (same id, other content: kept "
    "for review, not applied), unattributed (unknown customer: stored, counted once the "
    "customer or alias exists) or rejected with a reason. Valid events are stored even when "
    "others are rejected."
)


COMPACT_PARAMETERS = [
    OpenApiParameter(
        "outcomes",
        str,
        OpenApiParameter.QUERY,
        enum=["all", "not_accepted"],
        description="`not_accepted`: the compact response, with the counts and only the "
        "outcomes of events that were not accepted (each with its input `index`). The same "
        "events are stored with the same outcomes either way. Default `all`.",
    ),
    OpenApiParameter(
        "Prefer",
        str,
        OpenApiParameter.HEADER,
        description="`return=minimal` asks for the compact response (as `outcomes=not_accepted`; "
        "answered with `Preference-Applied: return=minimal`). The query parameter wins.",
    ),
]


def _compact_asked(request: Request) -> bool:
    mode = request.query_params.get("outcomes")
    if mode is not None:
        if mode not in ("all", "not_accepted"):
            raise AppError(
                "validation_error",
                "outcomes must be all or not_accepted.",
                details={"outcomes": f"{mode[:40]!r} is not one of all, not_accepted."},
            )
        return mode == "not_accepted"
    prefer = request.META.get("HTTP_PREFER", "")
    return any(p.strip().lower() == "return=minimal" for p in prefer.replace(";", ",").split(","))


def _ingest_description() -> str:
    from django.conf import settings

    return INGEST_DESCRIPTION.format(
        max_events=settings.METERING_MAX_EVENTS_PER_REQUEST,
        max_bytes=settings.METERING_MAX_REQUEST_BYTES,
        max_inflated=settings.METERING_MAX_DECOMPRESSED_BYTES,
        future=settings.METERING_MAX_FUTURE_SECONDS,
        age=settings.METERING_MAX_EVENT_AGE_DAYS,
        props=settings.METERING_MAX_PROPERTIES_BYTES,
    )


class Events(GenericAPIView):
    read_scope = ApiKeyScope.READ
    write_scope = ApiKeyScope.INGEST
    # The parser is declared for the schema only: post() reads and decodes the body itself
    # (gzip, the ingest byte limit instead of DATA_UPLOAD_MAX_MEMORY_SIZE).
    parser_classes = [StrictJSONParser]
    serializer_class = s.EventOutput
    queryset = UsageEvent.objects.none()

    @extend_schema(
        request=s.IngestRequest,
        responses={200: s.IngestResponse},
        parameters=COMPACT_PARAMETERS,
        summary="Ingest usage events",
        description=_ingest_description(),
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        compact = _compact_asked(request)
        limits = ingest_limits()
        body = read_body(request._request, limits)
        document, imprecise = decode_body(
            body, content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""), limits=limits
        )
        events = events_from_document(document, limits)
        result = services.events_ingest(
            api_key=request_key(request), events=events, limits=limits, check_imprecise=imprecise
        )
        metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        response = Response(result.as_dict(only_not_accepted=compact))
        if compact and "outcomes" not in request.query_params:
            response["Preference-Applied"] = "return=minimal"
        return response

    @extend_schema(
        parameters=[s.EventQuery],
        responses=s.EventOutput(many=True),
        summary="Browse stored events",
    )
    def get(self, request: Request) -> Response:
        query = s.EventQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        customer = None
        if params.get("customer"):
            customer = customer_for_key(request_key(request), params["customer"])
        qs = events_filtered(
            api_key=request_key(request),
            customer=customer,
            type=params.get("type"),
            start=params.get("start"),
            end=params.get("end"),
        )
        page = page_of(self, qs)
        return self.get_paginated_response(s.EventOutput(page, many=True).data)


def _meters():  # type: ignore[no-untyped-def]
    return Meter.objects.prefetch_related("versions")


class MeterListCreate(GenericAPIView):
    serializer_class = s.MeterOutput

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return _meters()

    @extend_schema(responses=s.MeterOutput(many=True), summary="List meters")
    def get(self, request: Request) -> Response:
        page = page_of(self, self.get_queryset())
        return self.get_paginated_response(s.MeterOutput(page, many=True).data)

    @extend_schema(
        request=s.MeterCreateInput, responses={201: s.MeterOutput}, summary="Create a meter"
    )
    def post(self, request: Request) -> Response:
        refuse_bound_key(request, "define meters")
        data = s.MeterCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        meter = services.meter_create(
            created_by=f"api:{request_key(request).prefix}", **data.validated_data
        )
        return Response(
            s.MeterOutput(_meters().get(pk=meter.pk)).data, status=status.HTTP_201_CREATED
        )


class MeterDetail(GenericAPIView):
    serializer_class = s.MeterOutput

    @extend_schema(responses=s.MeterOutput, summary="Get a meter and its versions")
    def get(self, request: Request, key: str) -> Response:
        return Response(s.MeterOutput(_meters().get(pk=meter_by_key(key).pk)).data)

    @extend_schema(
        request=s.MeterUpdateInput,
        responses=s.MeterOutput,
        summary="Change a meter (definition changes create a new version)",
    )
    def patch(self, request: Request, key: str) -> Response:
        refuse_bound_key(request, "define meters")
        meter = meter_by_key(key)
        data = s.MeterUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.meter_update(
            meter=meter, created_by=f"api:{request_key(request).prefix}", **data.validated_data
        )
        return Response(s.MeterOutput(_meters().get(pk=meter.pk)).data)


def _month_start(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return datetime.combine(local.date().replace(day=1), dtime(0), tzinfo=zone)


def _next_month(start: datetime, zone: ZoneInfo) -> datetime:
    local = start.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime.combine(
        local.date().replace(year=year, month=month, day=1), dtime(0), tzinfo=zone
    )


def _in_zone(value: datetime | date | None, zone: ZoneInfo) -> datetime | None:
    """A bare date is midnight of that day in the answer's zone (the zone the answer names)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, dtime(0), tzinfo=zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError) as exc:
        raise AppError(
            "validation_error",
            f"{name!r} is not an IANA time zone.",
            details={"tz": "e.g. Europe/Paris"},
        ) from exc


class CustomerUsage(GenericAPIView):
    serializer_class = s.UsageOutput

    @extend_schema(
        parameters=[s.UsageQuery, OpenApiParameter("external_id", str, OpenApiParameter.PATH)],
        responses=s.UsageOutput,
        summary="Usage of one meter by one customer (series and total)",
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer: Customer = customer_for_key(request_key(request), external_id, with_aliases=False)
        query = s.UsageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        meter = meter_by_key(params["meter"])
        zone = _zone(params.get("tz") or customer.timezone)
        start = _in_zone(params.get("start"), zone) or _month_start(datetime.now(UTC), zone)
        end = _in_zone(params.get("end"), zone) or _next_month(start, zone)
        dims = [d.strip() for d in params.get("group_by", "").split(",") if d.strip()]
        series = usage_series(
            customer=customer,
            meter=meter,
            start=start,
            end=end,
            window=params["window"],
            tz=zone.key,
            group_by=dims,
        )
        return Response(usage_body(series, customer.external_id))


_DATETIME = DateTimeField()  # DRF's own representation: in UTC, "Z" for +00:00


def _text_keys(group: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if group is None else {str(k): v for k, v in group.items()}


def usage_body(series: UsageSeries, customer: str) -> dict[str, Any]:
    """What ``s.UsageOutput(body).data`` answered, built directly: the serializer machinery
    cost about 1 ms per call for a month of daily points (issue 15 target 2), the values are
    the same (``tests/metering/test_usage_api_body.py`` compares them)."""
    dt = _DATETIME.to_representation
    text = s.decimal_text
    return {
        "meter": series.meter,
        "customer": customer,
        "start": dt(series.start),
        "end": dt(series.end),
        "window": series.window,
        "tz": series.tz,
        "total": text(series.total),
        "groups": [{"group": _text_keys(g.group), "value": text(g.value)} for g in series.groups],
        "series": [
            {
                "start": dt(p.start),
                "end": dt(p.end),
                "value": text(p.value),
                "group": _text_keys(p.group),
            }
            for p in series.points
        ],
    }
