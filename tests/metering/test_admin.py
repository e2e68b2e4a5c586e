"""Admin: event browser, review queues with replay, meter editor, usage summary, roles."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import staff_user_create
from metering.models import EventConflict, Meter, RejectedEvent, UsageEvent
from metering.services import events_ingest, meter_create, rollup_drain
from tests.factories import CustomerFactory
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


@pytest.fixture
def admin_client_() -> Client:
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_event_browser_searches_exactly_and_is_read_only(admin_client_, customer):
    events_ingest(
        api_key=None,
        events=[
            event("evt-1", at=NOW),
            event("evt-2", at=NOW),
            event("evt-3", customer="ghost", at=NOW),
        ],
    )
    url = "/admin/metering/usageevent/"
    assert admin_client_.get(url).status_code == 200
    found = admin_client_.get(url, {"q": "evt-1"})
    assert [e.event_id for e in found.context["cl"].result_list] == ["evt-1"]
    by_customer = admin_client_.get(url, {"q": "acme"})
    assert {e.event_id for e in by_customer.context["cl"].result_list} == {"evt-1", "evt-2"}
    assert admin_client_.get(url, {"within": "1h"}).status_code == 200
    pk = UsageEvent.objects.get(event_id="evt-1").pk
    detail = admin_client_.get(f"{url}{pk}/change/")
    assert detail.status_code == 200 and b"evt-1" in detail.content
    assert admin_client_.get(f"{url}add/").status_code == 403


def test_rejected_replay_reports_each_event(admin_client_, customer):
    events_ingest(
        api_key=None,
        events=[
            {
                "id": "r1",
                "customer": "acme",
                "type": "t",
                "timestamp": "2026-11-10T13:00:00Z",
            },  # future
            {"id": "r2", "type": "t"},
        ],
    )
    first, second = RejectedEvent.objects.order_by("id")
    # r1 was 30 minutes ahead; an hour later it is valid and replays as accepted.
    import time_machine

    with time_machine.travel(NOW.replace(hour=14), tick=False):
        response = admin_client_.post(
            "/admin/metering/rejectedevent/",
            {"action": "replay", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )
    text = messages_of(response)
    assert any("r1: accepted" in m for m in text) and any(
        "rejected (missing_customer)" in m for m in text
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "replayed" and second.status == "open"
    assert UsageEvent.objects.filter(event_id="r1").exists()
    assert RejectedEvent.objects.count() == 2  # the replay made no new rejected rows


def test_conflict_dismiss_and_unattributed_replay(admin_client_, customer):
    events_ingest(
        api_key=None,
        events=[event("c", at=NOW), event("c", at=NOW, x=1), event("u", customer="later", at=NOW)],
    )
    conflict = EventConflict.objects.get()
    response = admin_client_.post(
        "/admin/metering/eventconflict/",
        {"action": "dismiss", "_selected_action": [conflict.pk]},
        follow=True,
    )
    assert any("dismissed" in m for m in messages_of(response))
    url = "/admin/metering/unattributedevent/"
    listed = admin_client_.get(url)
    assert [e.event_id for e in listed.context["cl"].result_list] == ["u"]
    pk = UsageEvent.objects.get(event_id="u").pk
    early = admin_client_.post(url, {"action": "attribute", "_selected_action": [pk]}, follow=True)
    assert any("no customer" in m for m in messages_of(early))
    later = CustomerFactory(external_id="later")  # hook not run in this test transaction
    done = admin_client_.post(url, {"action": "attribute", "_selected_action": [pk]}, follow=True)
    assert any("1 event(s) attributed" in m for m in messages_of(done))
    assert UsageEvent.objects.get(event_id="u").customer == later


def test_meter_editor_creates_versions(admin_client_):
    add = admin_client_.post(
        "/admin/metering/meter/add/",
        {
            "key": "tokens",
            "name": "Tokens",
            "description": "",
            "event_type": "llm",
            "aggregation": "sum",
            "value_property": "tokens",
            "filters": "[]",
            "group_by": '["model"]',
            "effective_from": "",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert add.status_code == 302, add.context["adminform"].form.errors
    meter = Meter.objects.get(key="tokens")
    assert meter.versions.get().group_by == ["model"]
    change = admin_client_.post(
        f"/admin/metering/meter/{meter.pk}/change/",
        {
            "name": "Tokens",
            "description": "",
            "event_type": "llm",
            "aggregation": "sum",
            "value_property": "total_tokens",
            "filters": "[]",
            "group_by": '["model"]',
            "effective_from": "",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-0-id": meter.versions.get().pk,
            "versions-0-meter": meter.pk,
        },
    )
    assert change.status_code == 302
    assert list(meter.versions.order_by("version").values_list("value_property", flat=True)) == [
        "tokens",
        "total_tokens",
    ]
    invalid = admin_client_.post(
        "/admin/metering/meter/add/",
        {
            "key": "bad",
            "name": "Bad",
            "event_type": "x",
            "aggregation": "sum",
            "value_property": "",
            "filters": "[]",
            "group_by": "[]",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert invalid.status_code == 200 and not Meter.objects.filter(key="bad").exists()


def test_usage_summary_shows_each_meter_total(admin_client_, customer):
    meter_create(key="calls", name="Calls", event_type="api_request", aggregation="count")
    events_ingest(api_key=None, events=[event(f"s{i}", at=NOW) for i in range(7)])
    rollup_drain()
    page = admin_client_.get(
        "/admin/metering/meter/usage-summary/", {"customer": "acme", "month": "2026-11"}
    )
    assert page.status_code == 200
    assert [(r["meter"].key, r["total"]) for r in page.context["rows"]] == [("calls", 7)]


def test_support_can_browse_but_not_replay(customer):
    staff_user_create(username="sam", role="support", password="pw-long-enough-1")
    client = Client()
    client.force_login(User.objects.get(username="sam"))
    assert client.get("/admin/metering/usageevent/").status_code == 200
    page = client.get("/admin/metering/rejectedevent/")
    assert page.status_code == 200 and b'value="replay"' not in page.content
