"""A meter's unit ("requests", "GB", "tokens"): set and changed through the API and the admin,
validated the same way in both, documented in the schema, and shown after the meter's
quantities in the admin."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from metering.models import Meter
from metering.services import events_ingest, meter_create, meter_update, rollup_drain
from tests.metering.helpers import NOW, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]

TOKENS = {
    "key": "tokens",
    "name": "Tokens",
    "event_type": "llm",
    "aggregation": "sum",
    "value_property": "tokens",
}


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_api_round_trips_the_unit_without_a_new_version(admin_api, read_api):
    created = admin_api.post("/api/v1/meters", {**TOKENS, "unit": "tokens"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["unit"] == "tokens"
    assert read_api.get("/api/v1/meters/tokens").json()["unit"] == "tokens"
    assert read_api.get("/api/v1/meters").json()["results"][0]["unit"] == "tokens"

    changed = admin_api.patch("/api/v1/meters/tokens", {"unit": "k tokens"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["unit"] == "k tokens"
    assert [v["version"] for v in changed.json()["versions"]] == [1]  # a label, not a definition
    assert (
        admin_api.patch("/api/v1/meters/tokens", {"unit": ""}, format="json").json()["unit"] == ""
    )

    plain = admin_api.post("/api/v1/meters", {**TOKENS, "key": "plain"}, format="json")
    assert plain.json()["unit"] == ""  # optional: blank when not given


@pytest.mark.parametrize("unit", ["x" * 33, " GB", "GB ", "G\nB", "GB\t"])
def test_the_api_refuses_a_unit_that_is_not_a_short_label(admin_api, unit):
    response = admin_api.post("/api/v1/meters", {**TOKENS, "unit": unit}, format="json")
    assert response.status_code == 400, response.json()
    assert "unit" in response.json()["error"]["details"]
    assert not Meter.objects.exists()
    meter_create(**TOKENS)
    patched = admin_api.patch("/api/v1/meters/tokens", {"unit": unit}, format="json")
    assert patched.status_code == 400
    assert Meter.objects.get().unit == ""


def test_the_services_check_the_unit_too():
    from billingsite.errors import AppError

    with pytest.raises(AppError) as raised:
        meter_create(**TOKENS, unit="a\x00b")
    assert "unit" in raised.value.details
    meter = meter_create(**TOKENS, unit="GB·h")  # any printable text, not only ASCII
    with pytest.raises(AppError):
        meter_update(meter=meter, unit=42)
    assert Meter.objects.get().unit == "GB·h"


def test_the_schema_documents_the_unit(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    assert components["MeterOutput"]["properties"]["unit"]["type"] == "string"
    for name in ("MeterCreateInputRequest", "PatchedMeterUpdateInputRequest"):
        unit = components[name]["properties"]["unit"]
        assert unit["maxLength"] == 32 and "requests" in unit["description"], name
    assert "unit" not in components["MeterCreateInputRequest"].get("required", [])


def _form(**fields: str) -> dict[str, str]:
    return {
        "description": "",
        "event_type": "llm",
        "aggregation": "sum",
        "value_property": "tokens",
        "filters": "[]",
        "group_by": "[]",
        "effective_from": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **fields,
    }


def test_the_admin_edits_the_unit_and_lists_it(admin_client_):
    add = admin_client_.post(
        "/admin/metering/meter/add/", _form(key="tokens", name="Tokens", unit="tokens")
    )
    assert add.status_code == 302, add.context["adminform"].form.errors
    meter = Meter.objects.get(key="tokens")
    assert meter.unit == "tokens"
    page = admin_client_.get(f"/admin/metering/meter/{meter.pk}/change/")
    assert 'name="unit"' in page.content.decode() and 'value="tokens"' in page.content.decode()
    change = admin_client_.post(
        f"/admin/metering/meter/{meter.pk}/change/",
        _form(
            name="Tokens",
            unit="M tokens",
            **{
                "versions-TOTAL_FORMS": "1",
                "versions-INITIAL_FORMS": "1",
                "versions-0-id": str(meter.versions.get().pk),
                "versions-0-meter": str(meter.pk),
            },
        ),
    )
    assert change.status_code == 302
    assert Meter.objects.get(pk=meter.pk).unit == "M tokens"
    assert meter.versions.count() == 1
    listed = text(admin_client_.get("/admin/metering/meter/"))
    assert "M tokens" in listed
    too_long = admin_client_.post(
        "/admin/metering/meter/add/", _form(key="long", name="Long", unit="x" * 40)
    )
    assert too_long.status_code == 200 and not Meter.objects.filter(key="long").exists()


def test_the_usage_summary_shows_totals_with_their_unit(admin_client_, customer):
    meter_create(
        key="calls", name="Calls", unit="requests", event_type="api_request", aggregation="count"
    )
    events_ingest(api_key=None, events=[event(f"s{i}", at=NOW) for i in range(1234)])
    rollup_drain()
    page = admin_client_.get(
        "/admin/metering/meter/usage-summary/", {"customer": "acme", "month": "2026-11"}
    )
    assert page.status_code == 200
    assert "calls Calls 1,234 requests" in text(page)
