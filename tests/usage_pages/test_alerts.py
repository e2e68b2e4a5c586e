"""Self-serve alerts on the usage pages: a signed-in customer creates a spend alert, sees it
fire, and its billing contacts are emailed through the outbox; links are read-only; the
operator can turn self-serve off; a customer never sees or deletes another's alerts."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client, override_settings

from accounts.portal.services import usage_link_create
from billingsite.outbox.models import OutboxMessage
from invoicing.alerts.email import alert_email_send
from invoicing.alerts.models import Alert, AlertOwner, AlertTrigger
from invoicing.alerts.services import alert_create, alerts_evaluate_pending
from metering.services import rollup_drain
from tests.factories import ContactFactory
from tests.usage_pages.conftest import World, at, send, signed_in_client

pytestmark = pytest.mark.django_db

SPEND = {"name": "Budget", "type": "spend_threshold", "meter": "", "threshold": "150"}


def test_customer_creates_a_spend_alert_sees_it_fire_and_contacts_get_an_email(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    ContactFactory(customer=world.acme, email="billing@acme.example", role="billing")
    ContactFactory(customer=world.acme, email="tech@acme.example", role="technical")
    page = acme_client.get("/usage/alerts/")
    assert page.status_code == 200 and b"New alert" in page.content
    created = acme_client.post("/usage/alerts/", SPEND)
    assert created.status_code == 302, created.content
    alert = Alert.objects.get(customer=world.acme)
    assert alert.owner == AlertOwner.CUSTOMER and alert.history.first().history_user is not None
    alerts_evaluate_pending()
    assert not AlertTrigger.objects.exists()  # 100 fee + Feb usage is below 150 so far
    send("acme", "more", 200, at(2026, 2, 15, 11))
    rollup_drain()
    alerts_evaluate_pending()
    trigger = AlertTrigger.objects.get(alert=alert)
    assert trigger.value >= 150
    page = acme_client.get("/usage/alerts/")
    assert f'data-trigger="{trigger.pk}"'.encode() in page.content
    message = OutboxMessage.objects.get(topic="alert.email")
    assert message.key == f"alert.email:{trigger.pk}"
    assert alert_email_send(message) == {"to": ["billing@acme.example"]}  # the topic's handler
    assert [m.to for m in mail.outbox] == [["billing@acme.example"]]
    assert "Budget" in mail.outbox[0].subject


def test_usage_alert_needs_a_meter_and_bad_input_is_refused(
    world: World, acme_client: Client
) -> None:
    bad = acme_client.post("/usage/alerts/", {**SPEND, "type": "usage_threshold"})
    assert bad.status_code == 400 and b"Choose the meter" in bad.content
    assert acme_client.post("/usage/alerts/", {**SPEND, "threshold": "-1"}).status_code == 400
    ok = acme_client.post(
        "/usage/alerts/", {**SPEND, "type": "usage_threshold", "meter": "api_calls"}
    )
    assert ok.status_code == 302
    assert Alert.objects.get(customer=world.acme).meter.key == "api_calls"


def test_links_are_read_only_and_self_serve_can_be_turned_off(
    world: World, acme_client: Client
) -> None:
    issued = usage_link_create(customer=world.acme)
    linked = Client().get(f"/usage/l/{issued.token}/alerts/")
    assert linked.status_code == 200 and b"New alert" not in linked.content
    assert Client().post(f"/usage/l/{issued.token}/alerts/", SPEND).status_code == 403
    with override_settings(ALERTS_SELF_SERVE=False):
        page = acme_client.get("/usage/alerts/")
        assert page.status_code == 200 and b"New alert" not in page.content
        assert acme_client.post("/usage/alerts/", SPEND).status_code == 403
    assert not Alert.objects.exists()


def test_a_customer_cannot_see_or_delete_another_customers_alert(
    world: World, acme_client: Client
) -> None:
    theirs = alert_create(
        name="Globex secret budget",
        type="spend_threshold",
        customer=world.globex,
        owner=AlertOwner.CUSTOMER,
        thresholds=[{"value": "5"}],
    )
    assert b"Globex secret" not in acme_client.get("/usage/alerts/").content
    assert acme_client.post(f"/usage/alerts/{theirs.pk}/delete").status_code == 404
    mine = acme_client.post("/usage/alerts/", SPEND)
    assert mine.status_code == 302
    own = Alert.objects.get(customer=world.acme)
    assert acme_client.post(f"/usage/alerts/{own.pk}/delete").status_code == 302
    assert list(Alert.objects.all()) == [theirs]
    other = signed_in_client(world.globex, "globex-ops")
    assert b"Globex secret" in other.get("/usage/alerts/").content
