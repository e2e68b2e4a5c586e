"""Demo customers and logins for `manage.py seed_demo` (idempotent: looks up before creating)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from accounts.models import Contact, Customer, CustomerAlias, CustomerUser
from accounts.services import (
    customer_alias_add,
    customer_create,
    customer_user_create,
    staff_user_create,
)

# (external id, name, currency, time zone, country, aliases)
DEMO_CUSTOMERS = [
    ("acme", "Acme Analytics Inc.", "USD", "America/New_York", "US", ["proj_acme_prod"]),
    ("globex", "Globex Corporation", "USD", "America/Chicago", "US", ["proj_globex"]),
    ("initech", "Initech", "USD", "America/Los_Angeles", "US", []),
    ("umbrella", "Umbrella Health GmbH", "EUR", "Europe/Berlin", "DE", ["proj_umb_eu"]),
    ("hooli", "Hooli", "USD", "America/Los_Angeles", "US", []),
    (
        "stark",
        "Stark Industries (Enterprise)",
        "USD",
        "America/New_York",
        "US",
        ["proj_stark_a", "proj_stark_b"],
    ),
    ("wayne", "Wayne Enterprises", "USD", "America/New_York", "US", []),
    ("tyrell", "Tyrell Corp", "GBP", "Europe/London", "GB", []),
    ("soylent", "Soylent Foods", "EUR", "Europe/Paris", "FR", []),
    ("cyberdyne", "Cyberdyne Systems KK", "JPY", "Asia/Tokyo", "JP", []),
    ("wonka", "Wonka Industries", "GBP", "Europe/London", "GB", []),
    ("pied-piper", "Pied Piper", "USD", "America/Los_Angeles", "US", ["proj_pp_middleout"]),
]

STAFF = [("demo-support", "support"), ("demo-finance", "finance"), ("demo-admin", "admin")]
CUSTOMER_USER = ("acme-user", "acme", "demo-customer-password")


def seed(out: Any) -> None:
    for external_id, name, currency, tz, country, aliases in DEMO_CUSTOMERS:
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            customer = customer_create(
                external_id=external_id,
                name=name,
                currency=currency,
                timezone=tz,
                country=country,
                email=f"billing@{external_id}.example",
            )
        for alias in aliases:
            if not CustomerAlias.objects.filter(alias=alias).exists():
                customer_alias_add(customer=customer, alias=alias)
        Contact.objects.get_or_create(
            customer=customer,
            email=f"finance@{external_id}.example",
            defaults={"name": f"{name.split()[0]} Finance Team"},
        )
    for username, role in STAFF:
        staff_user_create(
            username=username,
            role=role,
            password=f"{username}-password",
            email=f"{username}@tally.example",
        )
    username, external_id, password = CUSTOMER_USER
    if not CustomerUser.objects.filter(user__username=username).exists():
        if User.objects.filter(username=username).exists():
            User.objects.filter(username=username).delete()
        customer_user_create(
            customer=Customer.objects.get(external_id=external_id),
            username=username,
            email="ops@acme.example",
            password=password,
        )
    out.write(f"  {Customer.objects.count()} customers, {len(STAFF)} staff logins")
