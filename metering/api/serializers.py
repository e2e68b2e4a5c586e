"""API shapes for metering. Decimals are strings; times are RFC 3339."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metering.models import Aggregation, Meter, MeterVersion, UsageEvent
from metering.models.meters import UNIT_MAX_LENGTH


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class EventOutcome(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField()
    status = serializers.CharField(
        help_text="accepted | duplicate | conflict | unattributed | rejected; with the event "
        "log (TALLY_EVENT_LOG): queued | rejected, the rest at GET /api/v1/events/{id}/status"
    )
    reason = serializers.CharField(required=False, help_text="Only for rejected events.")
    message = serializers.CharField(required=False)


class IngestResponse(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    conflict = serializers.IntegerField()
    unattributed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    queued = serializers.IntegerField(
        required=False, help_text="Only with the event log: events durably logged, applied later."
    )
    events = EventOutcome(
        many=True,
        help_text="Every event's outcome, in input order; in the compact response "
        "(`?outcomes=not_accepted` or `Prefer: return=minimal`) only the outcomes of events "
        "that were not accepted (nor queued), still in input order, each with its `index`.",
    )


EVENT_SHAPE = (
    'Each event: {"id": unique idempotency key (at most 256 characters), "customer": external '
    'id or alias (128), "type" (128), "timestamp"?: RFC 3339 (default: when received), '
    '"properties"?: object}. An event that breaks these rules does not fail the request: it is '
    "answered `rejected` with a reason in its outcome."
)


class IngestRequest(serializers.Serializer):
    # Items are validated one by one and answered in-band (see EVENT_SHAPE), so the schema
    # types them loosely: a malformed event is a 200 with a `rejected` outcome, not a 400.
    events = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=settings.METERING_MAX_EVENTS_PER_REQUEST,
        help_text=EVENT_SHAPE,
    )


class EventOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="event_id")
    customer = serializers.SerializerMethodField()

    class Meta:
        model = UsageEvent
        fields = [
            "id",
            "namespace",
            "customer",
            "customer_ref",
            "type",
            "timestamp",
            "properties",
            "received_at",
            "is_late",
        ]
        read_only_fields = fields

    def get_customer(self, obj: UsageEvent) -> str | None:
        return obj.customer.external_id if obj.customer is not None else None


class EventQuery(serializers.Serializer):
    # an empty value (`?type=`) means no filter, as for any optional query string
    customer = serializers.CharField(required=False, allow_blank=True)
    type = serializers.CharField(required=False, allow_blank=True)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # DRF drops an empty optional value; an empty time is a mistake, not "no bound".
        for name in ("start", "end"):
            if self.initial_data.get(name) == "":
                raise serializers.ValidationError({name: "An RFC 3339 time, or leave it out."})
        return attrs


class FilterRule(serializers.Serializer):
    property = serializers.CharField()
    equals = serializers.JSONField(required=False)
    # "in" is a Python keyword; documented in the meter's `filters` help text instead.
    exists = serializers.BooleanField(required=False)


class _Definition(serializers.Serializer):
    event_type = serializers.CharField(max_length=128)
    aggregation = serializers.ChoiceField(choices=Aggregation.choices)
    value_property = serializers.CharField(max_length=200, required=False, allow_blank=True)
    filters = serializers.JSONField(
        required=False,
        help_text='List of {"property", and one of "equals" | "in" (list) | "exists" (bool)}.',
    )
    group_by = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=5
    )


UNIT_HELP = (
    'What one unit of usage is, shown after quantities ("requests", "GB", "tokens"); empty '
    "for none. A label: changing it does not change how usage is counted."
)


class MeterCreateInput(_Definition):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    unit = serializers.CharField(
        max_length=UNIT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=UNIT_HELP,
    )


class MeterUpdateInput(_Definition):
    event_type = serializers.CharField(max_length=128, required=False)
    aggregation = serializers.ChoiceField(choices=Aggregation.choices, required=False)
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    unit = serializers.CharField(
        max_length=UNIT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=UNIT_HELP,
    )
    effective_from = serializers.DateTimeField(
        required=False, help_text="An hour boundary, not before the current hour (default)."
    )


class MeterVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = MeterVersion
        fields = [
            "version",
            "effective_from",
            "event_type",
            "aggregation",
            "value_property",
            "filters",
            "group_by",
            "created_at",
        ]
        read_only_fields = fields


class MeterOutput(serializers.ModelSerializer):
    versions = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    class Meta:
        model = Meter
        fields = [
            "key",
            "name",
            "description",
            "unit",
            "current",
            "versions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _ordered(self, obj: Meter) -> list[MeterVersion]:
        return sorted(obj.versions.all(), key=lambda v: v.effective_from)

    def get_versions(self, obj: Meter) -> list[dict[str, Any]]:
        return MeterVersionOutput(self._ordered(obj), many=True).data  # type: ignore[return-value]

    def get_current(self, obj: Meter) -> dict[str, Any] | None:
        """The latest version (the one new events will use)."""
        versions = self._ordered(obj)
        return MeterVersionOutput(versions[-1]).data if versions else None  # type: ignore[return-value]

    def to_representation(self, instance: Meter) -> dict[str, Any]:
        data = super().to_representation(instance)
        current = data.get("current") or {}
        for field in ("event_type", "aggregation", "value_property", "filters", "group_by"):
            data[field] = current.get(field)
        return data


@extend_schema_field({"type": "string", "examples": ["2026-08-01", "2026-08-01T04:00:00Z"]})
class DayOrTimeField(serializers.DateTimeField):
    """An RFC 3339 time, or a bare date ("2026-08-01") kept as a ``date``: the view reads a
    date as midnight in the answer's zone (``tz``, default the customer's), not as UTC."""

    def to_internal_value(self, value: Any) -> datetime | date:  # type: ignore[override]
        if isinstance(value, str) and _DAY.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                self.fail("invalid", format="YYYY-MM-DD or an RFC 3339 time")
        return super().to_internal_value(value)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_HELP = (
    " A date (YYYY-MM-DD) means midnight of that day in `tz` (default: the customer's time"
    " zone); a time with an offset is taken as given."
)


class UsageQuery(serializers.Serializer):
    meter = serializers.CharField()
    start = DayOrTimeField(
        required=False, help_text="Default: start of the current month (tz)." + _DAY_HELP
    )
    end = DayOrTimeField(required=False, help_text="Exclusive. Default: start+1 month." + _DAY_HELP)
    window = serializers.ChoiceField(
        choices=["hour", "day", "month"], required=False, default="day"
    )
    group_by = serializers.CharField(required=False, help_text="Comma-separated dimensions.")
    tz = serializers.CharField(required=False, help_text="Default: the customer's time zone.")


class UsagePointOutput(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    value = serializers.CharField(allow_null=True)
    group = serializers.DictField(allow_null=True)


class UsageGroupOutput(serializers.Serializer):
    group = serializers.DictField()
    value = serializers.CharField(allow_null=True)


class UsageOutput(serializers.Serializer):
    meter = serializers.CharField()
    customer = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    window = serializers.CharField()
    tz = serializers.CharField()
    total = serializers.CharField(allow_null=True)
    groups = UsageGroupOutput(many=True)
    series = UsagePointOutput(many=True)
