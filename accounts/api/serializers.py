from __future__ import annotations

from rest_framework import serializers

from accounts.models import Customer, CustomerStatus, external_id_validator
from accounts.services import CUSTOMER_FIELDS


class CustomerOutput(serializers.ModelSerializer):
    aliases = serializers.SerializerMethodField()
    # may be empty, which an OpenAPI "email" format would not allow
    email = serializers.CharField(read_only=True, help_text="Billing email, or empty.")

    class Meta:
        model = Customer
        fields = [
            "external_id",
            *CUSTOMER_FIELDS,
            "stripe_customer_id",
            "aliases",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_aliases(self, obj: Customer) -> list[str]:
        return [alias.alias for alias in obj.aliases.all()]


class _CustomerFields(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True)
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    address_line1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address_line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    tax_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=CustomerStatus.choices, required=False)
    invoice_grace_hours = serializers.IntegerField(
        min_value=0, max_value=24 * 31, required=False, allow_null=True
    )

    def validate_currency(self, value: str) -> str:
        return value.upper()


class CustomerCreateInput(_CustomerFields):
    external_id = serializers.CharField(max_length=128, validators=[external_id_validator])
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=128, validators=[external_id_validator]),
        required=False,
        max_length=100,
    )


class CustomerUpdateInput(_CustomerFields):
    name = serializers.CharField(max_length=200, required=False)


class AliasInput(serializers.Serializer):
    alias = serializers.CharField(max_length=128, validators=[external_id_validator])


class AliasOutput(serializers.Serializer):
    alias = serializers.CharField()
    customer = serializers.CharField(source="customer.external_id")
    created_at = serializers.DateTimeField()
