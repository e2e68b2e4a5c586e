"""Admin pages around a customer: the 360 page, support search, and the two usage-page
buttons ("Create a usage link", "Open usage pages as this customer"). Mounted under
``/admin/accounts/customer/`` by ``urls.py`` and wrapped in ``admin.site.admin_view``."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.customer360.registry import sections_for
from accounts.customer360.search import customers_matching
from accounts.models import Customer, UsageLinkPurpose
from accounts.portal.services import STAFF_LIFETIME, usage_link_create

SHARED_LINK_LIFETIME_DAYS = 7


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def customer_360(request: HttpRequest, customer_id: int) -> HttpResponse:
    _require(request, "accounts.view_customer")
    customer = get_object_or_404(Customer, pk=customer_id)
    return TemplateResponse(
        request,
        "admin/customer_360.html",
        {
            **admin.site.each_context(request),
            "title": customer.name,
            "customer": customer,
            "opts": Customer._meta,
            "sections": sections_for(request, customer),
            "can_link": request.user.has_perm("accounts.change_customer"),
        },
    )


def customer_search(request: HttpRequest) -> HttpResponse:
    _require(request, "accounts.view_customer")
    term = request.GET.get("q", "").strip()
    results = list(customers_matching(term)[:50]) if term else []
    if len(results) == 1 and request.GET.get("go") == "1":
        return HttpResponseRedirect(reverse("customer-360", args=[results[0].pk]))
    return TemplateResponse(
        request,
        "admin/customer_360_search.html",
        {
            **admin.site.each_context(request),
            "title": "Find a customer",
            "term": term,
            "results": results,
            "opts": Customer._meta,
        },
    )


@require_POST
def usage_link(request: HttpRequest, customer_id: int) -> HttpResponse:
    """A shared read-only link for the customer (shown once on the 360 page)."""
    _require(request, "accounts.change_customer")
    customer = get_object_or_404(Customer, pk=customer_id)
    issued = usage_link_create(
        customer=customer,
        created_by=request.user,
        lifetime=timedelta(days=SHARED_LINK_LIFETIME_DAYS),
    )
    url = request.build_absolute_uri(reverse("usage:overview", kwargs={"token": issued.token}))
    messages.success(
        request, f"Read-only usage link (valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC): {url}"
    )
    return HttpResponseRedirect(reverse("customer-360", args=[customer.pk]))


@require_POST
def open_usage_pages(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Staff see exactly what the customer sees, read-only, through a short staff link;
    opening it is logged as a usage-page sign-in with the staff user's name."""
    _require(request, "accounts.view_customer")
    customer = get_object_or_404(Customer, pk=customer_id)
    issued = usage_link_create(
        customer=customer,
        purpose=UsageLinkPurpose.STAFF,
        created_by=request.user,
        lifetime=STAFF_LIFETIME,
    )
    return HttpResponseRedirect(reverse("usage:overview", kwargs={"token": issued.token}))
