"""Serializer fields shared by the Finance API: decimals as strings, through the money rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billingsite.money import MoneyError, parse_decimal


@extend_schema_field(OpenApiTypes.STR)
class DecimalText(serializers.Field):
    """A decimal string such as ``"12.50"`` (an integer is accepted too, a float never)."""

    default_error_messages = {"invalid": 'Must be a decimal string such as "12.50".'}

    def to_internal_value(self, data: Any) -> Decimal:
        try:
            return parse_decimal(data, self.field_name or "value")
        except MoneyError as exc:
            raise serializers.ValidationError(exc.message) from exc

    def to_representation(self, value: Any) -> str:
        return str(value)
