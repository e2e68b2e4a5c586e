"""Webhook endpoint API shapes. The secret appears only in the answers to create and rotate."""

from __future__ import annotations

from rest_framework import serializers

from billingsite.webhooks.catalog import WILDCARD, event_types
from billingsite.webhooks.models import WebhookEndpoint

EVENT_CHOICES = [WILDCARD, *event_types()]


class WebhookEndpointOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "events",
            "description",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES))


class WebhookEndpointWithSecret(WebhookEndpointOutput):
    secret = serializers.SerializerMethodField(
        help_text="whsec_<base64>: shown once; verify deliveries with it (Standard Webhooks)."
    )

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj: WebhookEndpoint) -> str:
        return str(self.context["secret"])


class WebhookEndpointCreateInput(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1, max_length=100
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateInput(WebhookEndpointCreateInput):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        min_length=1,
        max_length=100,
        required=False,
    )
    enabled = serializers.BooleanField(required=False)


class ReplayInput(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Replay the events created at or after this.")


class RotateSecretInput(serializers.Serializer):
    overlap_hours = serializers.IntegerField(
        min_value=0,
        max_value=24 * 7,
        required=False,
        help_text="How long the old secret keeps signing (default WEBHOOK_SECRET_OVERLAP_HOURS).",
    )


class ReplayOutput(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Deliveries queued (same webhook-id as before).")
