"""Review queues: rejected events (replay), conflicts (dismiss), unattributed (attribute),
quarantined rollups (replay)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from billingsite.errors import AppError
from metering import services
from metering.admin.common import CappedCountPaginator, ReceivedFilter
from metering.admin.events import ReadOnlyAdmin
from metering.models import (
    EventConflict,
    QuarantinedRollup,
    RejectedEvent,
    SinkDeadLetter,
    UnattributedEvent,
)
from metering.services.quarantine import ROLLED_UP


class _Queue(ReadOnlyAdmin):
    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Actions need change permission; the forms stay read-only (no fields are editable).
        return obj is None and request.user.has_perm(f"metering.change_{self.opts.model_name}")


@admin.register(RejectedEvent)
class RejectedEventAdmin(_Queue):
    list_display = (
        "id",
        "event_id",
        "vendor",
        "reason",
        "status",
        "replay_outcome",
        "received_at",
        "api_key",
    )
    list_filter = ("status", "vendor", "reason", ReceivedFilter)
    search_fields = ("=event_id",)
    readonly_fields = (
        "vendor",
        "namespace",
        "event_id",
        "payload",
        "reason",
        "message",
        "api_key",
        "received_at",
        "status",
        "replay_outcome",
    )
    actions = ["replay"]

    @admin.action(
        description="Replay selected rejected events through ingestion", permissions=["change"]
    )
    def replay(self, request: HttpRequest, queryset: Any) -> None:
        for rejected in queryset.order_by("id"):
            try:
                outcome = services.rejected_replay(rejected=rejected)
            except AppError as exc:
                messages.error(request, f"#{rejected.pk}: {exc.message}")
                continue
            level = messages.WARNING if outcome.status == "rejected" else messages.SUCCESS
            detail = f" ({outcome.reason})" if outcome.reason else ""
            messages.add_message(
                request, level, f"#{rejected.pk} {rejected.event_id}: {outcome.status}{detail}"
            )


@admin.register(EventConflict)
class EventConflictAdmin(_Queue):
    list_display = ("id", "event_id", "namespace", "status", "received_at", "existing")
    list_filter = ("status", ReceivedFilter)
    search_fields = ("=event_id",)
    readonly_fields = ("namespace", "event_id", "existing", "payload", "received_at", "status")
    actions = ["dismiss"]

    @admin.action(description="Dismiss: keep the stored event", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: Any) -> None:
        for conflict in queryset.order_by("id"):
            try:
                services.conflict_dismiss(conflict=conflict)
                messages.success(request, f"#{conflict.pk} {conflict.event_id}: dismissed")
            except AppError as exc:
                messages.error(request, f"#{conflict.pk}: {exc.message}")


@admin.register(UnattributedEvent)
class UnattributedEventAdmin(_Queue):
    list_display = ("event_id", "customer_ref", "type", "timestamp", "received_at")
    list_filter = (ReceivedFilter,)
    search_fields = ("=customer_ref", "=event_id")
    readonly_fields = (
        "namespace",
        "event_id",
        "customer_ref",
        "type",
        "timestamp",
        "properties",
        "received_at",
    )
    ordering = ("-id",)
    actions = ["attribute"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).filter(customer__isnull=True)

    @admin.action(
        description="Replay: attribute to customers that now exist", permissions=["change"]
    )
    def attribute(self, request: HttpRequest, queryset: Any) -> None:
        refs = sorted(set(queryset.values_list("customer_ref", flat=True)))
        for ref in refs:
            count = services.events_attribute(identifiers=[ref])
            if count:
                messages.success(request, f"{ref}: {count} event(s) attributed")
            else:
                messages.warning(request, f"{ref}: no customer or alias with this id yet")


@admin.register(QuarantinedRollup)
class QuarantinedRollupAdmin(_Queue):
    """Events the rollup worker could not apply. Fix the cause (the event's data, the meter),
    then replay: each row reports whether its events are now in the rollups."""

    list_display = ("id", "events", "error_code", "reason", "quarantined_at", "attempts")
    readonly_fields = (
        "event_pks",
        "created_at",
        "quarantined_at",
        "error_code",
        "reason",
        "attempts",
    )
    ordering = ("id",)
    actions = ["replay"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).filter(quarantined_at__isnull=False)

    @admin.display(description="events (pk)")
    def events(self, obj: QuarantinedRollup) -> str:
        return ", ".join(str(pk) for pk in obj.event_pks)

    @admin.action(description="Replay: apply to the rollups now", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: Any) -> None:
        for entry in queryset.order_by("id"):
            try:
                outcome = services.rollup_quarantine_replay(entry_pk=entry.pk)
            except AppError as exc:
                messages.error(request, f"#{entry.pk}: {exc.message}")
                continue
            if outcome.status == ROLLED_UP:
                messages.success(request, f"#{entry.pk}: {outcome.events} event(s) rolled up")
            else:
                messages.warning(request, f"#{entry.pk}: still failing ({outcome.reason})")


@admin.register(SinkDeadLetter)
class SinkDeadLetterAdmin(ReadOnlyAdmin):
    """Event-log messages a sink parked (docs/scaling.md, "Dead letters"): read the reason and
    the message, re-publish what was valid, then delete the row (Admin role)."""

    list_display = ("id", "stream", "partition", "stream_seq", "deliveries", "short_reason")
    list_filter = ("stream", "partition")
    fields = ("stream", "partition", "stream_seq", "deliveries", "parked_at", "reason", "message")
    readonly_fields = fields

    @admin.display(description="Reason")
    def short_reason(self, obj: SinkDeadLetter) -> str:
        return obj.reason[:120]

    @admin.display(description="Message (as logged; undecodable bytes shown as \ufffd)")
    def message(self, obj: SinkDeadLetter) -> str:
        return bytes(obj.payload)[:20_000].decode("utf-8", "replace")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("metering.delete_sinkdeadletter")
