"""Signed links (API and expiry), sign-in records, framing headers, customer sign-in and
password reset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import UsageLink, UsagePageSignIn
from accounts.portal.services import usage_link_create, usage_link_revoke
from accounts.services import customer_user_create, staff_user_create
from tests.usage_pages.conftest import PASSWORD, World

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_api_creates_a_link_that_opens_the_pages_and_is_logged(
    world: World, api_client_for
) -> None:
    response = api_client_for("admin").post(
        "/api/v1/customers/acme/usage-links", {"expires_in": 3600}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["url"].startswith("http://testserver/usage/l/")
    link = UsageLink.objects.get()
    assert link.customer == world.acme and link.purpose == "shared"
    assert abs((link.expires_at - timezone.now()) - timedelta(hours=1)) < timedelta(seconds=5)
    page = Client().get(
        path_of(body["url"]), HTTP_USER_AGENT="EmbedTest/1.0", REMOTE_ADDR="10.1.2.3"
    )
    assert page.status_code == 200
    assert page.context["customer"] == world.acme
    sign_in = UsagePageSignIn.objects.get()
    assert (sign_in.customer, sign_in.method, sign_in.link, sign_in.ip, sign_in.user_agent) == (
        world.acme,
        "link",
        link,
        "10.1.2.3",
        "EmbedTest/1.0",
    )
    Client().get(
        path_of(body["url"]) + "invoices/", HTTP_USER_AGENT="EmbedTest/1.0", REMOTE_ADDR="10.1.2.3"
    )
    assert UsagePageSignIn.objects.count() == 1  # browsing on is one entry, not one per page


def test_api_scopes_and_customer_binding(world: World, api_client_for) -> None:
    url = "/api/v1/customers/acme/usage-links"
    assert api_client_for("read").post(url, {}, format="json").status_code == 403
    bound_other = api_client_for("admin", customer=world.globex)
    assert bound_other.post(url, {}, format="json").status_code == 404
    bound_own = api_client_for("admin", customer=world.acme)
    assert bound_own.post(url, {}, format="json").status_code == 201
    too_long = api_client_for("admin").post(url, {"expires_in": 31 * 86400}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "validation_error"


def test_a_link_works_until_it_expires_then_is_refused(world: World) -> None:
    start = timezone.now()
    issued = usage_link_create(customer=world.acme, lifetime=timedelta(hours=2), now=start)
    with time_machine.travel(start + timedelta(hours=1, minutes=59), tick=False):
        assert Client().get(f"/usage/l/{issued.token}/invoices/").status_code == 200
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        response = Client().get(f"/usage/l/{issued.token}/invoices/")
        assert response.status_code == 403
        assert b"This link has expired" in response.content
        assert world.acme_invoice.number.encode() not in response.content


def test_a_revoked_link_is_refused(world: World) -> None:
    issued = usage_link_create(customer=world.acme)
    assert usage_link_revoke(link=issued.link) is True
    assert usage_link_revoke(link=issued.link) is False
    response = Client().get(f"/usage/l/{issued.token}/")
    assert response.status_code == 403 and b"revoked" in response.content


def test_only_link_pages_may_be_framed(world: World, acme_client: Client, settings) -> None:
    settings.USAGE_EMBED_FRAME_ANCESTORS = "https://app.example.com"
    token = usage_link_create(customer=world.acme).token
    linked = Client().get(f"/usage/l/{token}/invoices/")
    assert "X-Frame-Options" not in linked
    assert linked["Content-Security-Policy"] == "frame-ancestors https://app.example.com"
    assert linked["Referrer-Policy"] == "no-referrer"
    session = acme_client.get("/usage/invoices/")
    assert session["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in session
    assert session["Cache-Control"] == "private, no-store"


def test_by_default_only_tallys_own_pages_may_frame_link_pages(world: World) -> None:
    from billingsite import settings as configured

    assert configured.USAGE_EMBED_FRAME_ANCESTORS == "'self'"  # no USAGE_EMBED_* in tests
    token = usage_link_create(customer=world.acme).token
    linked = Client().get(f"/usage/l/{token}/")
    assert linked.status_code == 200
    assert linked["Content-Security-Policy"] == "frame-ancestors 'self'"
    refused = Client().get("/usage/l/not-a-token/")  # refusals are framable the same way
    assert refused["Content-Security-Policy"] == "frame-ancestors 'self'"


def test_password_sign_in_is_recorded_and_staff_cannot_use_it(world: World) -> None:
    customer_user_create(
        customer=world.acme, username="ops", email="ops@acme.example", password=PASSWORD
    )
    staff_user_create(username="sam", role="support", password=PASSWORD)
    client = Client(HTTP_USER_AGENT="Browser/2", REMOTE_ADDR="192.0.2.7")
    refused = client.post("/usage/sign-in/", {"username": "sam", "password": PASSWORD})
    assert refused.status_code == 200 and b"didn't match" in refused.content
    response = client.post("/usage/sign-in/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/usage/"
    entry = UsagePageSignIn.objects.get()
    assert (entry.method, entry.user.username, entry.ip, entry.user_agent) == (
        "password",
        "ops",
        "192.0.2.7",
        "Browser/2",
    )
    assert client.get("/usage/").status_code == 200


def test_password_reset_by_email_for_customer_users_only(world: World) -> None:
    customer_user_create(
        customer=world.acme, username="ops", email="ops@acme.example", password=PASSWORD
    )
    staff_user_create(username="sam", role="support", password=PASSWORD, email="sam@tally.example")
    client = Client()
    client.post("/usage/password-reset/", {"email": "sam@tally.example"})
    assert mail.outbox == []  # a staff account is never reset from the customers' pages
    response = client.post("/usage/password-reset/", {"email": "ops@acme.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/usage/password-reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "N3w-passphrase-xyz", "new_password2": "N3w-passphrase-xyz"},
    )
    assert done.status_code == 302
    assert Client().login(username="ops", password="N3w-passphrase-xyz")


def test_support_revokes_a_link_in_the_admin_and_it_stops_working(world: World) -> None:
    issued = usage_link_create(customer=world.acme)
    assert Client().get(f"/usage/l/{issued.token}/").status_code == 200
    staff_user_create(username="sam", role="support", password=PASSWORD)
    admin = Client()
    admin.login(username="sam", password=PASSWORD)
    assert admin.get("/admin/accounts/usagepagesignin/").status_code == 200
    response = admin.post(
        "/admin/accounts/usagelink/",
        {"action": "revoke_links", "_selected_action": [issued.link.pk]},
        follow=True,
    )
    assert "1 link(s) revoked." in response.content.decode()
    assert Client().get(f"/usage/l/{issued.token}/").status_code == 403


def test_sign_ins_for_evidence_leave_out_staff_visits(world: World) -> None:
    from accounts.models import UsageLinkPurpose
    from accounts.portal.selectors import usage_sign_ins

    shared = usage_link_create(customer=world.acme)
    staff_link = usage_link_create(customer=world.acme, purpose=UsageLinkPurpose.STAFF)
    Client().get(f"/usage/l/{shared.token}/invoices/")
    Client().get(f"/usage/l/{staff_link.token}/invoices/")
    Client().get(f"/usage/l/{usage_link_create(customer=world.globex).token}/invoices/")
    assert [s.method for s in usage_sign_ins(world.acme)] == ["link"]
    assert sorted(s.method for s in usage_sign_ins(world.acme, include_staff=True)) == [
        "link",
        "staff",
    ]
    later = timezone.now() + timedelta(minutes=1)
    assert list(usage_sign_ins(world.acme, start=later)) == []
