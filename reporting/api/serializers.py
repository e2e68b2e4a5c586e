"""Shapes of the exports API, for the OpenAPI schema and for validating the query."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ColumnSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    type = serializers.CharField(help_text="The Arrow type written to Parquet.")
    description = serializers.CharField()
    nullable = serializers.BooleanField()
    currency_column = serializers.CharField(
        allow_null=True, help_text="For money columns (decimal strings): the currency column."
    )


class DatasetSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="Bumped when a column changes meaning or type.")
    description = serializers.CharField()
    cursor = serializers.CharField(help_text="The order rows come in and resume from.")
    url = serializers.CharField()
    columns = ColumnSerializer(many=True)


class DatasetListSerializer(serializers.Serializer[Any]):
    results = DatasetSerializer(many=True)


class ExportPageSerializer(serializers.Serializer[Any]):
    dataset = serializers.CharField()
    version = serializers.IntegerField()
    next = serializers.CharField(
        allow_null=True, help_text="The next page's URL (same window); null on the last page."
    )
    results = serializers.ListField(
        child=serializers.DictField(),
        help_text="Rows, one object per row with the dataset's columns: money as decimal "
        "strings next to `currency`, times ISO 8601 in UTC, dates YYYY-MM-DD.",
    )


class ExportQuerySerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField(
        required=False,
        help_text="Rows whose cursor time is at or after (ISO 8601; UTC without a zone).",
    )
    until = serializers.DateTimeField(required=False, help_text="... and before (exclusive).")
    cursor = serializers.CharField(required=False, max_length=2000)
    limit = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError({"until": "Must be after since."})
        return attrs
