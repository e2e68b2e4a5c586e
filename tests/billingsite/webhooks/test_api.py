"""The webhook endpoints API: admin scope, the secret once, validation, replay, rotation, and
the payload components in the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from billingsite.events import emit
from billingsite.models import OutboxMessage
from billingsite.webhooks.catalog import EVENT_TYPES
from billingsite.webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints"


def _create(api, **overrides):
    body = {"url": "https://hooks.example.com/tally", "events": ["invoice.paid"], **overrides}
    return api.post(URL, body, format="json")


def test_create_answers_the_secret_once_and_never_again(admin_api):
    created = _create(admin_api, description="ERP")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["events"] == ["invoice.paid"] and body["description"] == "ERP"
    endpoint_id = body["id"]
    assert "secret" not in admin_api.get(f"{URL}/{endpoint_id}").json()
    listed = admin_api.get(URL).json()
    assert [row["id"] for row in listed["results"]] == [endpoint_id]
    assert all("secret" not in row for row in listed["results"])
    assert WebhookEndpoint.objects.get(pk=endpoint_id).secret == body["secret"]


def test_read_and_bound_keys_are_refused(read_api, api_client_for, customer):
    assert read_api.get(URL).status_code == 403
    bound = api_client_for("admin", customer=customer)
    assert bound.get(URL).status_code == 403
    assert _create(bound).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"events": ["invoice.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"url": "not a url"}, "url"),
    ],
)
def test_bad_input_is_a_400_in_the_error_shape(admin_api, overrides, field):
    answer = _create(admin_api, **overrides)
    assert answer.status_code == 400
    assert field in str(answer.json()["error"])


def test_plain_http_and_private_addresses_are_refused_unless_allowed(admin_api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x", "https://[::1]/x"):
        answer = _create(admin_api, url=url)
        assert answer.status_code == 400, url
        assert answer.json()["error"]["code"] == "webhook_url_not_allowed"
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert _create(admin_api, url="http://127.0.0.1:9/x").status_code == 201


def test_patch_disables_and_reenables_and_delete_removes(admin_api):
    endpoint_id = _create(admin_api).json()["id"]
    patched = admin_api.patch(f"{URL}/{endpoint_id}", {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert patched.json()["disabled_reason"] == "disabled by the operator"
    again = admin_api.patch(
        f"{URL}/{endpoint_id}", {"enabled": True, "events": ["*"]}, format="json"
    )
    assert again.json()["enabled"] is True and again.json()["disabled_reason"] == ""
    assert again.json()["events"] == ["*"]
    assert admin_api.delete(f"{URL}/{endpoint_id}").status_code == 204
    assert admin_api.get(f"{URL}/{endpoint_id}").status_code == 404
    assert WebhookEndpoint.history.filter(id=endpoint_id).count() == 4  # audited


def test_replay_queues_the_events_since(admin_api):
    endpoint_id = _create(admin_api, events=["*"]).json()["id"]
    since = timezone.now() - timedelta(seconds=1)
    with transaction.atomic():
        emit("invoice.paid", {"invoice": {"number": "T-1"}}, key="invoice.paid:1")
        emit("invoice.voided", {"invoice": {"number": "T-2"}}, key="invoice.voided:2")
    answer = admin_api.post(f"{URL}/{endpoint_id}/replay", {"since": since}, format="json")
    assert answer.status_code == 202 and answer.json() == {"queued": 2}
    keys = set(OutboxMessage.objects.filter(topic="webhook.deliver").values_list("key", flat=True))
    assert len(keys) == 4  # two first deliveries, two replays
    later = admin_api.post(f"{URL}/{endpoint_id}/replay", {"since": timezone.now()}, format="json")
    assert later.json() == {"queued": 0}
    assert admin_api.post(f"{URL}/{endpoint_id}/replay", {}, format="json").status_code == 400


def test_rotate_secret_answers_a_new_secret(admin_api):
    created = _create(admin_api).json()
    rotated = admin_api.post(f"{URL}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.previous_secret == created["secret"]
    assert endpoint.previous_secret_expires_at > timezone.now() + timedelta(hours=23)
    at_once = admin_api.post(
        f"{URL}/{created['id']}/rotate-secret", {"overlap_hours": 0}, format="json"
    )
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_expires_at <= timezone.now()
    assert endpoint.secret == at_once.json()["secret"]


def test_the_schema_documents_every_payload(admin_api, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    for event_type in EVENT_TYPES:
        component = components[f"WebhookEvent.{event_type}"]
        assert component["properties"]["type"]["enum"] == [event_type]
        assert "data" in component["required"]
    assert len(components["WebhookEvent"]["oneOf"]) == len(EVENT_TYPES)
    assert "/api/v1/webhook-endpoints/{endpoint_id}/replay" in schema["paths"]
