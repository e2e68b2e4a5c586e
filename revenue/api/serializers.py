"""Shapes of the month-close answer, for the OpenAPI schema (amounts are strings in major
units, like every money value of the API)."""

from __future__ import annotations

from rest_framework import serializers


class DeferredRevenueSerializer(serializers.Serializer):
    opening = serializers.CharField()
    billed = serializers.CharField(help_text="Invoices and credit notes of the month.")
    recognized = serializers.CharField(help_text="Revenue and breakage released.")
    closing = serializers.CharField(help_text="opening + billed - recognized")


class RecognizedRevenueSerializer(serializers.Serializer):
    revenue = serializers.CharField()
    breakage = serializers.CharField()
    by_charge = serializers.DictField(child=serializers.CharField())
    by_customer = serializers.DictField(
        child=serializers.CharField(), help_text="By customer external id."
    )


class BilledCollectedSerializer(serializers.Serializer):
    invoiced = serializers.CharField()
    credited = serializers.CharField()
    billed = serializers.CharField(help_text="invoiced - credited")
    collected = serializers.CharField()
    refunded = serializers.CharField()
    dispute_losses = serializers.CharField()


class ReceivableSerializer(serializers.Serializer):
    opening = serializers.CharField()
    closing = serializers.CharField()


class TiesSerializer(serializers.Serializer):
    journal_billed = serializers.CharField()
    invoices_billed = serializers.CharField(
        help_text="Finalized invoices issued in the month less credit notes created in it."
    )
    difference = serializers.CharField()
    unposted_sources = serializers.IntegerField()
    ok = serializers.BooleanField()


class CurrencyCloseSerializer(serializers.Serializer):
    deferred_revenue = DeferredRevenueSerializer()
    recognized_revenue = RecognizedRevenueSerializer()
    billed_vs_collected = BilledCollectedSerializer()
    accounts_receivable = ReceivableSerializer()
    ties_to_invoices = TiesSerializer()


class MonthCloseSerializer(serializers.Serializer):
    month = serializers.CharField()
    timezone = serializers.CharField()
    currencies = serializers.DictField(child=CurrencyCloseSerializer())
