"""Alert reads: what an API key or a customer may see, who an alert applies to, triggers."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import ApiKey, Customer
from invoicing.alerts.models import Alert, AlertOwner, AlertTrigger
from invoicing.models import Contract


def alerts_visible_to(api_key: ApiKey | None) -> QuerySet[Alert]:
    """Every alert; a customer-bound key sees its customer's own alerts only."""
    qs = Alert.objects.select_related("customer", "plan", "meter").order_by("pk")
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(customer_id=api_key.customer_id)
    return qs


def alert_customers(alert: Alert) -> list[int]:
    """The customers an alert applies to: its customer, or every customer with a contract on
    its plan (current or not: evaluation picks the contract in effect)."""
    if alert.customer_id is not None:
        return [alert.customer_id]
    assert alert.plan_id is not None
    return sorted(
        set(
            Contract.objects.filter(plan_version__plan_id=alert.plan_id).values_list(
                "customer_id", flat=True
            )
        )
    )


def alerts_for_customer_page(customer: Customer, plan_ids: list[int]) -> QuerySet[Alert]:
    """The alerts a customer sees on the usage pages: its own and its plan's."""
    return (
        Alert.objects.filter(Q(customer=customer) | Q(plan_id__in=plan_ids))
        .select_related("meter")
        .order_by("pk")
    )


def customer_self_serve_alerts(customer: Customer) -> QuerySet[Alert]:
    return Alert.objects.filter(customer=customer, owner=AlertOwner.CUSTOMER)


def triggers_for(alert: Alert, customer: Customer | None = None) -> QuerySet[AlertTrigger]:
    qs = AlertTrigger.objects.filter(alert=alert).select_related("customer")
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs.order_by("-triggered_at", "-pk")


def recent_triggers(customer: Customer, since: datetime | None = None) -> QuerySet[AlertTrigger]:
    qs = AlertTrigger.objects.filter(customer=customer).select_related("alert")
    if since is not None:
        qs = qs.filter(triggered_at__gte=since)
    return qs.order_by("-triggered_at", "-pk")
