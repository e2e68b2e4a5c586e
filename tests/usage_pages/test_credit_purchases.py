"""Credit purchases on the Customer 360 page and the usage pages' Credits page: a paid top-up
(with the grant it produced and the balance after it), a failed auto-recharge that stopped its
rule, in the back office's words and in the customer's; another customer sees none of it; the
opt-in self-serve top-up goes through the same service and buys once on a double submit."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from accounts.customer360.search import customers_matching
from accounts.portal.services import usage_link_create
from billingsite.outbox.models import OutboxMessage
from invoicing.models import CreditPurchase, PurchaseSource
from invoicing.services.credit_purchase_settle import credit_purchase_fail, credit_purchase_settle
from invoicing.services.credit_topups import (
    auto_recharge_rule_set,
    credit_top_up_request,
    customer_credit_balance,
)
from tests.usage_pages.conftest import World, signed_in_client
from tests.usage_pages.test_customer_360 import staff, text

pytestmark = pytest.mark.django_db
DECLINED = "Your card was declined."


def purchases_for(world: World) -> tuple[CreditPurchase, CreditPurchase]:
    """acme: a paid 120.00 top-up, and an auto-recharge of 75.00 whose payment failed."""
    paid = credit_top_up_request(customer=world.acme, amount="120.00", currency="USD")
    paid = credit_purchase_settle(purchase_id=paid.pk, payment_intent_id="pi_paid_123")
    rule = auto_recharge_rule_set(
        customer=world.acme, currency="USD", threshold="40", amount="75", max_per_month=4
    )
    failed = CreditPurchase.objects.create(  # what auto_recharge_check opens on a crossing
        customer=world.acme,
        source=PurchaseSource.AUTO_RECHARGE,
        rule=rule,
        currency="USD",
        amount=Decimal("75"),
        idempotency_key=f"credit-recharge:{rule.pk}:test",
    )
    failed = credit_purchase_fail(
        purchase_id=failed.pk,
        code="card_declined",
        message=DECLINED,
        payment_intent_id="pi_failed_456",
    )
    return paid, failed


def test_360_lists_paid_and_failed_purchases_with_grant_stripe_ids_and_the_stopped_rule(
    world: World, frozen_now: object
) -> None:
    paid, failed = purchases_for(world)
    page = staff("support").get(f"/admin/accounts/customer/{world.acme.pk}/360/")
    assert page.status_code == 200
    (section,) = [i for i in page.context["sections"] if i.section.key.endswith("purchases")]
    assert not section.failed
    html = page.content.decode()
    body = text(page)
    assert f'href="/admin/invoicing/creditpurchase/{paid.pk}/change/"' in html
    assert f'href="/admin/invoicing/creditpurchase/{failed.pk}/change/"' in html
    assert f'href="/admin/invoicing/creditgrant/{paid.grant_id}/change/"' in html
    assert "pi_paid_123" in body and "pi_failed_456" in body
    assert "120.00 USD" in body and "75.00 USD" in body
    assert f"paid Grant #{paid.grant_id} 120.00 USD" in body  # balance after: only that credit
    assert f"failed: {DECLINED} card_declined" in body
    rule_row = re.search(r'<tr data-state="stopped">.*?</tr>', html, re.S)
    assert rule_row is not None
    rule_text = re.sub(r"<[^>]+>", " ", rule_row.group(0))
    assert "40.00 USD" in rule_text and "75.00 USD" in rule_text
    assert "stopped after a payment failure" in rule_text
    assert f"purchase #{failed.pk}: card_declined" in rule_text
    assert re.search(r"\b4\s+1\b", rule_text)  # cap 4, one purchase this month


def test_support_search_finds_the_customer_by_a_purchases_payment_intent(
    world: World, frozen_now: object
) -> None:
    purchases_for(world)
    assert list(customers_matching("pi_failed_456")) == [world.acme]
    assert list(customers_matching("pi_unknown_1")) == []


def test_360_section_for_a_customer_without_purchases(world: World) -> None:
    page = staff("support").get(f"/admin/accounts/customer/{world.globex.pk}/360/")
    assert "No credit purchases." in text(page) and "No auto-recharge rule." in text(page)


def test_usage_credits_page_shows_purchases_and_rule_in_customer_words(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    paid, failed = purchases_for(world)
    page = acme_client.get("/usage/credits/")
    assert page.status_code == 200
    body = text(page)
    assert "Top-up 120.00 USD Paid, credit added 120.00 USD" in body
    assert f"Automatic top-up 75.00 USD Payment failed, no credit added: {DECLINED} —" in body
    assert "When your credit balance falls below 40.00 USD , we buy 75.00 USD" in body
    assert "at most 4 times a month (1 so far this month)" in body
    assert "Paused" in body and "because a payment failed" in body
    balance = customer_credit_balance(world.acme.pk, "USD", at=paid.settled_at)
    assert f"Available now {balance:.2f} USD" in body
    internals = ("pi_paid_123", "pi_failed_456", f"#{paid.pk}", f"#{failed.pk}", "card_declined")
    for internal in internals:
        assert internal not in body, internal
    assert "Buy credit" not in body  # self-serve is off by default
    assert 'href="/usage/credits/" aria-current="page"' in page.content.decode()


def test_another_customer_sees_none_of_them(world: World, frozen_now: object) -> None:
    purchases_for(world)
    globex = signed_in_client(world.globex, "globex-ops")
    body = text(globex.get("/usage/credits/"))
    assert "You have not bought credit yet." in body
    assert "No automatic top-up is set up." in body
    assert "120.00 USD" not in body and "75.00 USD" not in body
    token = usage_link_create(customer=world.globex).token
    linked = text(Client().get(f"/usage/l/{token}/credits/"))
    assert "You have not bought credit yet." in linked and "120.00 USD" not in linked


def test_without_self_serve_a_post_buys_nothing(world: World, acme_client: Client) -> None:
    response = acme_client.post("/usage/credits/", {"amount": "50", "request_key": "abc123"})
    assert response.status_code == 403
    assert not CreditPurchase.objects.exists()


def _form_key(client: Client, url: str = "/usage/credits/") -> str:
    page = client.get(url)
    assert page.status_code == 200
    return str(page.context["form"]["request_key"].value())


@override_settings(CREDIT_TOP_UP_SELF_SERVE=True)
def test_self_serve_top_up_double_submit_buys_once_through_the_outbox(
    world: World, acme_client: Client
) -> None:
    key = _form_key(acme_client)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    first = acme_client.post("/usage/credits/", {"amount": "50.00", "request_key": key})
    again = acme_client.post("/usage/credits/", {"amount": "50.00", "request_key": key})
    assert first.status_code == again.status_code == 302
    assert first["Location"] == "/usage/credits/?bought=1"
    (purchase,) = CreditPurchase.objects.all()
    assert purchase.customer_id == world.acme.pk and purchase.source == PurchaseSource.TOP_UP
    assert purchase.amount.amount == Decimal("50.00") and purchase.status == "pending"
    assert purchase.created_by is not None
    (row,) = OutboxMessage.objects.filter(topic="stripe.credit_purchase.charge")
    assert row.key == purchase.idempotency_key == f"credit-top-up:c{world.acme.pk}:{key}"
    assert row.payload == {"purchase_id": purchase.pk}
    done = text(acme_client.get(first["Location"]))
    assert "we are charging your card" in done and "Payment in progress" in done
    # a fresh page gives a fresh key: a second purchase is a second purchase
    second = acme_client.post(
        "/usage/credits/", {"amount": "20", "request_key": _form_key(acme_client)}
    )
    assert second.status_code == 302 and CreditPurchase.objects.count() == 2


@override_settings(
    CREDIT_TOP_UP_SELF_SERVE=True,
    CREDIT_TOP_UP_SELF_SERVE_MIN=Decimal("10"),
    CREDIT_TOP_UP_SELF_SERVE_MAX=Decimal("500"),
)
@pytest.mark.parametrize("amount", ["9.99", "500.01", "-5", "abc", "10.001"])
def test_self_serve_amount_outside_limits_is_refused(
    world: World, acme_client: Client, amount: str
) -> None:
    key = _form_key(acme_client)
    response = acme_client.post("/usage/credits/", {"amount": amount, "request_key": key})
    assert response.status_code == 400
    assert not CreditPurchase.objects.exists()
    assert not OutboxMessage.objects.filter(topic="stripe.credit_purchase.charge").exists()


@override_settings(CREDIT_TOP_UP_SELF_SERVE=True)
def test_self_serve_needs_csrf_a_signed_in_user_and_its_own_key(world: World) -> None:
    signed_in_client(world.acme, "acme-csrf")
    strict = Client(enforce_csrf_checks=True)
    assert strict.login(username="acme-csrf", password="usage-pages-password-1")
    posted = strict.post("/usage/credits/", {"amount": "50", "request_key": "abc"})
    assert posted.status_code == 403
    token = usage_link_create(customer=world.acme).token
    linked = Client().get(f"/usage/l/{token}/credits/")
    assert linked.status_code == 200 and b"Buy credit" not in linked.content
    refused = Client().post(f"/usage/l/{token}/credits/", {"amount": "50", "request_key": "abc"})
    assert refused.status_code == 403
    bad_key = Client()
    assert bad_key.login(username="acme-csrf", password="usage-pages-password-1")
    wrong = bad_key.post("/usage/credits/", {"amount": "50", "request_key": "../x"})
    assert wrong.status_code == 400
    assert not CreditPurchase.objects.exists()


@override_settings(CREDIT_TOP_UP_SELF_SERVE=True)
def test_the_same_form_key_of_two_customers_buys_twice(world: World, acme_client: Client) -> None:
    globex = signed_in_client(world.globex, "globex-ops")
    for client in (acme_client, globex):
        bought = client.post("/usage/credits/", {"amount": "30", "request_key": "k1"})
        assert bought.status_code == 302
    assert sorted(CreditPurchase.objects.values_list("customer_id", flat=True)) == sorted(
        [world.acme.pk, world.globex.pk]
    )


def _listed(response) -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content[:300]
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def test_admin_purchases_search_filters_read_only_for_support_and_on_the_ledger(
    world: World, frozen_now: object
) -> None:
    paid, failed = purchases_for(world)
    other = credit_top_up_request(customer=world.globex, amount="10", currency="USD")
    support = staff("support")
    url = "/admin/invoicing/creditpurchase/"
    assert _listed(support.get(url)) == sorted([paid.pk, failed.pk, other.pk])
    assert _listed(support.get(url, {"q": "pi_failed_456"})) == [failed.pk]
    assert _listed(support.get(url, {"q": "acme"})) == sorted([paid.pk, failed.pk])
    assert _listed(support.get(url, {"q": "Globex"})) == [other.pk]
    assert _listed(support.get(url, {"status__exact": "failed"})) == [failed.pk]
    assert _listed(support.get(url, {"currency": "USD"})) == sorted([paid.pk, failed.pk, other.pk])
    day = {"created_at__gte": "2026-02-15 00:00+00:00", "created_at__lt": "2026-02-16 00:00+00:00"}
    dated = support.get(url, day)
    assert _listed(dated) == sorted([paid.pk, failed.pk, other.pk])
    assert _listed(support.get(url, {"created_at__gte": "2026-02-16 00:00+00:00"})) == []
    changelist = support.get(url).content.decode()
    assert f'href="/admin/invoicing/creditgrant/{paid.grant_id}/change/"' in changelist
    # read-only: the form shows no save button, a POST changes nothing, nothing can be added
    page = support.get(f"{url}{failed.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert support.post(f"{url}{failed.pk}/change/", {"status": "succeeded"}).status_code == 403
    assert support.get(f"{url}add/").status_code == 403
    failed.refresh_from_db()
    assert failed.status == "failed"
    # the credit ledger names the purchase that bought a grant
    link = f'href="/admin/invoicing/creditpurchase/{paid.pk}/change/"'
    grant_page = support.get(f"/admin/invoicing/creditgrant/{paid.grant_id}/change/")
    assert grant_page.status_code == 200 and link in grant_page.content.decode()
    ledger = support.get("/admin/invoicing/creditentry/", {"q": "acme"})
    assert ledger.status_code == 200 and link in ledger.content.decode()


def test_pages_read_purchases_in_a_fixed_number_of_queries(
    world: World, acme_client: Client, frozen_now: object
) -> None:
    purchases_for(world)
    support = staff("support")
    url_360 = f"/admin/accounts/customer/{world.acme.pk}/360/"

    def queries(client: Client, url: str) -> int:
        with CaptureQueriesContext(connection) as seen:
            assert client.get(url).status_code == 200
        return len(seen.captured_queries)

    before = (queries(acme_client, "/usage/credits/"), queries(support, url_360))
    for n in range(5):
        more = credit_top_up_request(customer=world.acme, amount=f"{n + 1}0", currency="USD")
        credit_purchase_settle(purchase_id=more.pk, payment_intent_id=f"pi_more_{n}")
    after = (queries(acme_client, "/usage/credits/"), queries(support, url_360))
    assert after == before
    rows = text(acme_client.get("/usage/credits/"))
    # newest first, each with the balance after it: 120 + 10 + 20 + 30 + 40 + 50
    assert "Top-up 50.00 USD Paid, credit added 270.00 USD" in rows
    assert "Top-up 10.00 USD Paid, credit added 130.00 USD" in rows
