"""The webhook admin: add shows the secret once, the delivery log, "send again", the banner."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client

from billingsite.events import emit
from billingsite.models import OutboxMessage
from billingsite.outbox.services import outbox_dispatch
from billingsite.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.billingsite.webhooks.receiver import running_receiver
from tests.disputes.factories import staff

pytestmark = pytest.mark.django_db

BASE = "/admin/billingsite/webhookendpoint/"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(staff("admin"))
    return client


def test_adding_an_endpoint_shows_its_secret_once_and_records_who(admin_client):
    answer = admin_client.post(
        f"{BASE}add/",
        {
            "url": "https://hooks.example.com/a",
            "events": ["invoice.paid", "refund.failed"],
            "enabled": "on",
        },
        follow=True,
    )
    assert answer.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    shown = [str(m) for m in get_messages(answer.wsgi_request)]
    assert any(endpoint.secret in text for text in shown)
    assert endpoint.events == ["invoice.paid", "refund.failed"] and endpoint.enabled
    assert endpoint.history.get().history_user.username.startswith("admin")
    page = admin_client.get(f"{BASE}{endpoint.pk}/change/")
    assert endpoint.secret not in page.content.decode()


def test_send_again_resends_a_delivery_with_the_same_id(admin_client):
    with running_receiver() as receiver:
        admin_client.post(f"{BASE}add/", {"url": receiver.url, "events": ["*"], "enabled": "on"})
        with transaction.atomic():
            emit("invoice.paid", {"invoice": {"number": "A-1"}}, key="invoice.paid:a1")
        outbox_dispatch()
        delivery = WebhookDelivery.objects.get()
        answer = admin_client.post(
            "/admin/billingsite/webhookdelivery/",
            {"action": "send_again", "_selected_action": [delivery.pk]},
        )
        assert answer.status_code == 200 and b"queued" in answer.content
        outbox_dispatch()
        receiver.wait_for(2)
    assert len(set(receiver.ids())) == 1
    assert [d.attempt for d in WebhookDelivery.objects.order_by("pk")] == [1, 2]
    assert OutboxMessage.objects.filter(topic="webhook.deliver").count() == 2
    log = admin_client.get(
        f"/admin/billingsite/webhookdelivery/?endpoint__id__exact={delivery.endpoint_id}"
    )
    assert log.status_code == 200 and delivery.event.public_id in log.content.decode()


def test_the_endpoint_list_warns_about_disabled_endpoints(admin_client):
    WebhookEndpoint.objects.create(
        url="https://down.example.com/h",
        events=["*"],
        secret="whsec_x",
        enabled=False,
        disabled_reason="20 deliveries in a row failed",
        consecutive_failures=20,
        failing_since="2026-12-01T00:00:00Z",
    )
    page = admin_client.get(BASE)
    assert "Disabled after failing: https://down.example.com/h" in page.content.decode()
