"""Accounts' sections of the Customer 360 page: profile, contacts and notes, usage-page
access (sign-ins and links), audit history."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.customer360.registry import register_section
from accounts.models import Customer, CustomerAlias, UsageLink, UsagePageSignIn

ROWS = 20


def profile(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        "aliases": list(customer.aliases.values_list("alias", flat=True)),
        "users": list(customer.users.select_related("user")),
    }


def contacts(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {"contacts": list(customer.contacts.all())}


def usage_access(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        "sign_ins": list(
            UsagePageSignIn.objects.filter(customer=customer).select_related("user", "link")[:ROWS]
        ),
        "links": list(
            UsageLink.objects.filter(customer=customer).select_related("created_by", "api_key")[
                :ROWS
            ]
        ),
    }


def audit(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """Customer and alias changes, newest first, each with its changed fields."""
    entries = []
    records = list(
        Customer.history.filter(id=customer.pk)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("-history_date")[:ROWS]
    )
    for record in records:
        previous = record.prev_record
        changed = (
            [c.field for c in record.diff_against(previous).changes] if previous is not None else []
        )
        entries.append(
            {
                "at": record.history_date,
                "what": "Customer",
                "kind": record.get_history_type_display(),
                "who": record.history_user,
                "fields": ", ".join(changed),
            }
        )
    aliases = (
        CustomerAlias.history.filter(customer_id=customer.pk)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("-history_date")[:ROWS]
    )
    for record in aliases:
        entries.append(
            {
                "at": record.history_date,
                "what": f"Alias {record.alias}",
                "kind": record.get_history_type_display(),
                "who": record.history_user,
                "fields": "",
            }
        )
    entries.sort(key=lambda e: e["at"], reverse=True)
    return {"entries": entries[:ROWS]}


register_section(
    "accounts.profile", "Profile", profile, template="admin/customer_360/profile.html", order=10
)
register_section(
    "accounts.contacts",
    "Contacts and notes",
    contacts,
    template="admin/customer_360/contacts.html",
    order=60,
)
register_section(
    "accounts.usage_access",
    "Usage-page access",
    usage_access,
    template="admin/customer_360/usage_access.html",
    order=70,
)
register_section(
    "accounts.audit", "Audit history", audit, template="admin/customer_360/audit.html", order=90
)
