"""The usage pages' Credits page: the customer's credit balance, the credit they bought (one-off
top-ups and automatic ones) with the balance after each, and their auto-recharge rule, in their
words (no internal ids). When the operator turns ``CREDIT_TOP_UP_SELF_SERVE`` on, a signed-in
customer user may buy a top-up here; signed links stay read-only.

A purchase goes through ``credit_top_up_request`` like the API's: a pending purchase and its
outbox row in one transaction, charged once by the outbox, granted when the payment succeeds.
The form carries a one-time key (rendered with the page), so a double submit or a reload of the
POST answers the purchase the first submit opened instead of buying again.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.portal.access import Viewer, usage_page
from billingsite.display import money_text
from billingsite.errors import AppError
from invoicing.models import PurchaseSource, PurchaseStatus
from invoicing.selectors.credit_purchases import PurchaseRow, RuleRow, purchase_rows, rule_rows
from invoicing.services.credit_topups import credit_top_up_request, customer_credit_balance

SHOWN = 50
STATUS_WORDS = {
    PurchaseStatus.PENDING: "Payment in progress",
    PurchaseStatus.SUCCEEDED: "Paid, credit added",
    PurchaseStatus.FAILED: "Payment failed, no credit added",
}
SOURCE_WORDS = {
    PurchaseSource.TOP_UP: "Top-up",
    PurchaseSource.AUTO_RECHARGE: "Automatic top-up",
}


def self_serve_allowed(viewer: Viewer) -> bool:
    return bool(getattr(settings, "CREDIT_TOP_UP_SELF_SERVE", False)) and viewer.user is not None


def _limits() -> tuple[Decimal, Decimal]:
    low = Decimal(str(getattr(settings, "CREDIT_TOP_UP_SELF_SERVE_MIN", "10")))
    high = Decimal(str(getattr(settings, "CREDIT_TOP_UP_SELF_SERVE_MAX", "5000")))
    return low, high


class TopUpForm(forms.Form):
    amount = forms.DecimalField(max_digits=20, decimal_places=2, label="Amount")
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"

    def clean_amount(self) -> Decimal:
        value: Decimal = self.cleaned_data["amount"]
        low, high = _limits()
        if not low <= value <= high:
            raise forms.ValidationError(
                f"Choose an amount from {money_text(low, self.currency)}"
                f" to {money_text(high, self.currency)}."
            )
        return value

    def clean_request_key(self) -> str:
        key: str = self.cleaned_data["request_key"]
        if not key.isalnum():
            raise forms.ValidationError("The form is out of date; reload the page.")
        return key


def _fresh_form(currency: str) -> TopUpForm:
    return TopUpForm(currency=currency, initial={"request_key": secrets.token_hex(16)})


def purchase_line(row: PurchaseRow) -> dict[str, Any]:
    p = row.purchase
    return {
        "when": p.created_at,
        "kind": SOURCE_WORDS.get(p.source, p.get_source_display()),  # type: ignore[call-overload]
        "amount": money_text(p.amount, p.currency),
        "status": p.status,
        "status_text": STATUS_WORDS.get(p.status, p.get_status_display()),  # type: ignore[call-overload]
        "reason": p.failure_message if p.status == PurchaseStatus.FAILED else "",
        "balance_after": (
            money_text(row.balance_after, p.currency) if row.balance_after is not None else ""
        ),
    }


def rule_line(row: RuleRow) -> dict[str, Any]:
    rule = row.rule
    return {
        "currency": rule.currency,
        "threshold": money_text(rule.threshold, rule.currency),
        "amount": money_text(rule.amount, rule.currency),
        "max_per_month": rule.max_per_month,
        "this_month": row.this_month,
        "active": rule.enabled,
        "stopped_at": rule.stopped_at,
        "reason": row.last_failure.failure_message if row.last_failure else "",
    }


@usage_page
@require_http_methods(["GET", "POST"])
def credits_page(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    customer = viewer.customer
    allowed = self_serve_allowed(viewer)
    form = _fresh_form(customer.currency)
    status = 200
    if request.method == "POST":
        if not allowed:
            return HttpResponse("Buying credit is not available here.", status=403)
        form = TopUpForm(request.POST, currency=customer.currency)
        if form.is_valid() and _buy(viewer, form):
            return HttpResponseRedirect(f"{viewer.base}credits/?bought=1")
        status = 400
    purchases = [purchase_line(r) for r in purchase_rows(customer, limit=SHOWN)]
    context = {
        "viewer": viewer,
        "customer": customer,
        "base": viewer.base,
        "tz": customer.timezone,
        "nav": "credits",
        "balance": money_text(
            customer_credit_balance(customer.pk, customer.currency, at=timezone.now()),
            customer.currency,
        ),
        "purchases": purchases,
        "rules": [rule_line(r) for r in rule_rows(customer)],
        "self_serve": allowed,
        "limits": [money_text(v, customer.currency) for v in _limits()],
        # after a purchase, while it is being charged (a reload once it is paid says nothing)
        "bought": request.GET.get("bought") == "1"
        and any(p["status"] == PurchaseStatus.PENDING for p in purchases),
        "form": form,
    }
    return render(request, "usage/credits.html", context, status=status)


def _buy(viewer: Viewer, form: TopUpForm) -> bool:
    try:
        credit_top_up_request(
            customer=viewer.customer,
            amount=form.cleaned_data["amount"],
            currency=viewer.customer.currency,
            actor=viewer.user,
            request_key=form.cleaned_data["request_key"],
        )
    except AppError as exc:
        form.add_error(None, exc.message)
        return False
    return True
