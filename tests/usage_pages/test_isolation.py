"""Invariant 8 on the usage pages: a customer user or a signed link sees only its customer,
whatever URL it asks for (another customer's invoice number, a meter another customer uses,
a link token with its payload edited)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.portal.services import usage_link_create
from accounts.services import staff_user_create
from tests.usage_pages.conftest import World

pytestmark = pytest.mark.django_db


def pages(world: World) -> list[str]:
    own = world.acme_invoice.number
    return [
        "",
        "invoices/",
        f"invoices/{own}/",
        f"invoices/{own}/pdf",
        "meters/api_calls/",
        "meters/api_calls/export.csv",
        "credits/",
    ]


def test_anonymous_visitors_are_sent_to_the_customer_sign_in(world: World) -> None:
    client = Client()
    for page in pages(world):
        response = client.get(f"/usage/{page}")
        assert response.status_code == 302, page
        assert response["Location"].startswith("/usage/sign-in/?next=")


def test_staff_accounts_are_refused_on_every_page(world: World) -> None:
    staff_user_create(username="sam", role="support", password="pw-123456789")
    client = Client()
    client.login(username="sam", password="pw-123456789")
    for page in pages(world):
        assert client.get(f"/usage/{page}").status_code == 403, page


def test_another_customers_invoice_is_not_found_by_number(
    world: World, acme_client: Client
) -> None:
    other = world.globex_invoice.number
    for page in (f"invoices/{other}/", f"invoices/{other}/pdf"):
        assert acme_client.get(f"/usage/{page}").status_code == 404, page
    listed = [row["inv"].number for row in acme_client.get("/usage/invoices/").context["invoices"]]
    assert other not in listed and listed == [world.acme_invoice.number]


def test_a_draft_of_the_own_customer_is_not_shown(world: World, acme_client: Client) -> None:
    from invoicing.models import Invoice

    drafts = Invoice.objects.filter(customer=world.acme, status="draft")
    for draft in drafts:
        assert acme_client.get(f"/usage/invoices/{draft.pk}/").status_code == 404


def test_meter_pages_show_only_the_own_customers_usage(world: World, acme_client: Client) -> None:
    query = "start=2026-01-01&end=2026-02-28"
    page = acme_client.get(f"/usage/meters/api_calls/?{query}")
    assert page.context["total"] == "52"  # Globex sent 141 events to the same meter
    export = acme_client.get(f"/usage/meters/api_calls/export.csv?{query}")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert sum(Decimal(r["value"]) for r in rows) == 52


def test_a_meter_not_on_the_customers_plan_is_not_found(world: World, acme_client: Client) -> None:
    from metering.services import meter_create

    meter_create(key="globex_only", name="Secret", event_type="api_request", aggregation="count")
    for page in ("meters/globex_only/", "meters/globex_only/export.csv", "meters/nope/"):
        assert acme_client.get(f"/usage/{page}").status_code == 404, page


def test_a_link_sees_only_its_customer(world: World) -> None:
    token = usage_link_create(customer=world.acme).token
    client = Client()
    base = f"/usage/l/{token}/"
    assert client.get(base).status_code == 200
    other = world.globex_invoice.number
    assert client.get(f"{base}invoices/{other}/").status_code == 404
    assert client.get(f"{base}invoices/{other}/pdf").status_code == 404
    own = client.get(f"{base}invoices/")
    assert [r["inv"].number for r in own.context["invoices"]] == [world.acme_invoice.number]


def test_a_link_token_with_an_edited_payload_is_refused(world: World) -> None:
    import base64
    import json

    issued = usage_link_create(customer=world.acme)
    globex_link = usage_link_create(customer=world.globex)
    payload, rest = issued.token.split(":", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(l=globex_link.link.pk, c=world.globex.pk)
    forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    forged_token = forged.decode().rstrip("=") + ":" + rest
    response = Client().get(f"/usage/l/{forged_token}/")
    assert response.status_code == 403
    assert b"not valid" in response.content


def test_a_customer_user_session_does_not_open_another_customers_link(
    world: World, acme_client: Client
) -> None:
    """The link decides the customer, not the session: a Globex link shows Globex."""
    token = usage_link_create(customer=world.globex).token
    page = acme_client.get(f"/usage/l/{token}/invoices/")
    assert [r["inv"].number for r in page.context["invoices"]] == [world.globex_invoice.number]


def test_a_deactivated_customer_user_is_signed_out(world: World, acme_client: Client) -> None:
    User.objects.filter(username="acme-ops").update(is_active=False)
    response = acme_client.get("/usage/")
    assert response.status_code in (302, 403)
