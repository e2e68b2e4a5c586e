"""Canned Stripe answers for RecordingHTTPClient, built from Stripe's example objects.

``fixture_object(name)`` reads ``tests/fixtures/stripe/fixtures3.json`` (Stripe's own example
object per resource, from the public stripe/openapi repository; see tests/fixtures/README.md).
The default routes answer each call the gateway makes with that example, with fresh ids and the
few fields a test reads back (customer, status, ...) taken from the request.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.stripe.recording import RecordedRequest

FIXTURES3 = Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures3.json"
Answer = tuple[int, dict[str, Any]]
_ids = itertools.count(1)


@cache
def _fixtures3() -> dict[str, Any]:
    with open(FIXTURES3, encoding="utf-8") as handle:
        resources: dict[str, Any] = json.load(handle)["resources"]
    return resources


def fixture_object(resource: str, /, **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``resource`` object (``"invoice"``, ``"dispute"``,
    ``"billing_portal.session"``, ...) with top-level ``overrides`` applied."""
    obj = copy.deepcopy(_fixtures3()[resource])
    obj.update(overrides)
    return obj


def _new_id(prefix: str) -> str:
    return f"{prefix}_rec{next(_ids):06d}"


def _created(
    name: str, prefix: str, *echo: str, **fixed: Any
) -> Callable[[RecordedRequest, dict[str, str]], Answer]:
    """POST create: the example object with a new id and the ``echo`` fields from the form."""

    def respond(request: RecordedRequest, params: dict[str, str]) -> Answer:
        form = request.form
        echoed = {key: form[key] for key in echo if key in form}
        return 200, fixture_object(name, id=_new_id(prefix), **echoed, **fixed)

    return respond


def _existing(name: str, **fixed: Any) -> Callable[[RecordedRequest, dict[str, str]], Answer]:
    """GET/POST on ``.../{id}[/action]``: the example object carrying the path's id."""

    def respond(request: RecordedRequest, params: dict[str, str]) -> Answer:
        return 200, fixture_object(name, id=params["id"], **fixed)

    return respond


def _listed(name: str, path: str) -> Callable[[RecordedRequest, dict[str, str]], Answer]:
    def respond(request: RecordedRequest, params: dict[str, str]) -> Answer:
        return 200, {
            "object": "list",
            "url": path,
            "has_more": False,
            "data": [fixture_object(name)],
        }

    return respond


def _dispute_update(request: RecordedRequest, params: dict[str, str]) -> Answer:
    submitted = request.form.get("submit") == "true"
    status = "under_review" if submitted else "needs_response"
    return 200, fixture_object("dispute", id=params["id"], status=status)


def default_routes() -> list[tuple[str, str, Callable[[RecordedRequest, dict[str, str]], Answer]]]:
    return [
        ("POST", "/v1/customers", _created("customer", "cus", "email", "name")),
        ("POST", "/v1/customers/{id}", _existing("customer")),
        ("GET", "/v1/customers/{id}", _existing("customer")),
        ("GET", "/v1/payment_methods", _listed("payment_method", "/v1/payment_methods")),
        ("POST", "/v1/payment_methods/{id}/attach", _existing("payment_method")),
        (
            "POST",
            "/v1/billing_portal/sessions",
            _created("billing_portal.session", "bps", "customer", "return_url"),
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            _created("checkout.session", "cs_test", "customer", "mode", "currency"),
        ),
        (
            "POST",
            "/v1/invoices",
            _created("invoice", "in", "customer", "currency", "collection_method", status="draft"),
        ),
        (
            "POST",
            "/v1/invoiceitems",
            _created("invoiceitem", "ii", "customer", "invoice", "currency"),
        ),
        ("POST", "/v1/invoices/{id}/finalize", _existing("invoice", status="open")),
        ("POST", "/v1/invoices/{id}/pay", _existing("invoice", status="paid")),
        ("POST", "/v1/invoices/{id}/send", _existing("invoice", status="open")),
        ("POST", "/v1/invoices/{id}/void", _existing("invoice", status="void")),
        ("GET", "/v1/invoices/{id}", _existing("invoice")),
        (
            "POST",
            "/v1/payment_intents",
            _created("payment_intent", "pi", "customer", status="succeeded"),
        ),
        ("GET", "/v1/payment_intents/{id}", _existing("payment_intent")),
        ("GET", "/v1/charges/{id}", _existing("charge")),
        ("POST", "/v1/refunds", _created("refund", "re", "payment_intent", "charge")),
        ("GET", "/v1/refunds/{id}", _existing("refund")),
        ("GET", "/v1/disputes/{id}", _existing("dispute")),
        ("POST", "/v1/disputes/{id}", _dispute_update),
        ("POST", "/v1/files", _created("file", "file", purpose="dispute_evidence")),
        ("GET", "/v1/invoices", _listed("invoice", "/v1/invoices")),
        ("GET", "/v1/charges", _listed("charge", "/v1/charges")),
        ("GET", "/v1/refunds", _listed("refund", "/v1/refunds")),
        ("GET", "/v1/disputes", _listed("dispute", "/v1/disputes")),
    ]
