"""Webhook admin (the Admin role): endpoints (the secret is shown once, in a message, after
create or rotate), their delivery log, events, "send again" and replay. A banner on the
endpoint list names endpoints that were disabled because they kept failing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from billingsite.errors import AppError
from billingsite.outbox.admin import action_results
from billingsite.webhooks import services
from billingsite.webhooks.catalog import WILDCARD, event_types
from billingsite.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billingsite.webhooks.selectors import disabled_endpoints

REPLAY_WINDOW = timedelta(hours=24)


def _staff(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(WILDCARD, "* (every event type)")] + [(t, t) for t in event_types()],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "events", "description", "enabled")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("id", "url", "enabled", "consecutive_failures", "disabled_reason", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    readonly_fields = (
        "delivery_log",
        "disabled_reason",
        "disabled_at",
        "consecutive_failures",
        "failing_since",
        "previous_secret_expires_at",
        "created_by",
        "created_at",
    )
    actions = ["replay_last_day", "rotate_secret"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = ["url", "events", "description", "enabled"]
        return editable if obj is None else [*editable, *self.readonly_fields]

    @admin.display(description="Delivery log")
    def delivery_log(self, obj: WebhookEndpoint) -> str:
        url = reverse("admin:billingsite_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Deliveries</a>', url, obj.pk)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.EDITABLE}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            services.webhook_endpoint_update(endpoint=obj, actor=_staff(request), **changed)
            obj.refresh_from_db()
            return
        endpoint, secret = services.webhook_endpoint_create(**data, actor=_staff(request))
        obj.pk = endpoint.pk
        obj.refresh_from_db()
        messages.warning(request, f"Signing secret (copy it now, it is not shown again): {secret}")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.webhook_endpoint_delete(endpoint=obj, actor=_staff(request))

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        for endpoint in disabled_endpoints()[:5]:
            messages.error(
                request, f"Disabled after failing: {endpoint.url} ({endpoint.disabled_reason})."
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Replay the last 24 hours' events", permissions=["change"])
    def replay_last_day(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse:
        since = timezone.now() - REPLAY_WINDOW
        results = []
        for endpoint in queryset:
            try:
                queued = services.webhook_replay(endpoint=endpoint, since=since)
                results.append((endpoint, f"{queued} delivery(ies) queued"))
            except AppError as exc:
                results.append((endpoint, exc.message))
        return action_results(request, self, "Replay: results", results, "Endpoint")

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse:
        results = []
        for endpoint in queryset:
            _, secret = services.webhook_endpoint_rotate_secret(
                endpoint=endpoint, actor=_staff(request)
            )
            results.append((endpoint, f"new secret (shown once): {secret}"))
        return action_results(request, self, "Rotate secret: results", results, "Endpoint")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "endpoint",
        "event",
        "attempt",
        "succeeded",
        "response_status",
        "duration_ms",
        "error",
    )
    list_filter = ("succeeded", "endpoint")
    search_fields = ("event__public_id", "event__type", "url")
    list_select_related = ("endpoint", "event")
    actions = ["send_again"]
    fields = (
        "endpoint",
        "event",
        "attempt",
        "url",
        "request_headers",
        "succeeded",
        "response_status",
        "response_body",
        "error",
        "duration_ms",
        "outbox_message_id",
        "created_at",
    )
    readonly_fields = fields

    @admin.action(description="Send again (same webhook-id)", permissions=["view"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> HttpResponse:
        results = []
        for delivery in queryset.select_related("endpoint", "event"):
            try:
                services.webhook_replay(endpoint=delivery.endpoint, event_ids=[delivery.event_id])
                results.append((delivery, "queued"))
            except AppError as exc:
                results.append((delivery, exc.message))
        return action_results(request, self, "Send again: results", results, "Delivery")


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnly):
    list_display = ("created_at", "public_id", "type", "key")
    list_filter = ("type",)
    search_fields = ("public_id", "key")
    date_hierarchy = "created_at"
    fields = ("public_id", "type", "key", "payload", "created_at")
    readonly_fields = fields
    actions = ["replay_to_endpoints"]

    @admin.action(
        description="Replay to every enabled endpoint that subscribes", permissions=["view"]
    )
    def replay_to_endpoints(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent]
    ) -> HttpResponse:
        results = [(event, services.webhook_event_resend(event=event)) for event in queryset]
        return action_results(request, self, "Replay: results", results, "Event")
