"""The usage overview shows the signed-in customer's entitlements, as the API does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from invoicing.entitlements.grants import feature_create, plan_feature_set
from invoicing.entitlements.services import entitlement_consume
from invoicing.models import Contract
from tests.usage_pages.conftest import World

pytestmark = pytest.mark.django_db


def test_overview_lists_entitlements(
    world: World, acme_client: Client, frozen_now: object, api_client_for
) -> None:
    version = Contract.objects.get(customer=world.acme).plan_version
    tokens = feature_create(key="tokens", name="Model tokens", type="metered")
    feature_create(key="hidden", name="Not granted", type="boolean")
    plan_feature_set(plan_version=version, feature=tokens, limit=Decimal(1000))
    entitlement_consume(
        customer=world.acme, feature_key="tokens", amount=Decimal(250), idempotency_key="a"
    )
    page = acme_client.get("/usage/")
    rows = {row["feature"]: row for row in page.context["entitlements"]}
    assert set(rows) == {"tokens"}
    api = api_client_for("read").get("/api/v1/customers/acme/entitlements").json()
    shown = next(e for e in api["entitlements"] if e["feature"] == "tokens")
    assert (rows["tokens"]["used"], rows["tokens"]["remaining"]) == ("250", "750")
    assert (shown["used"], shown["remaining"]) == ("250", "750")
    assert "Model tokens" in page.content.decode()
