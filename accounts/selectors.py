"""Reads for accounts, always through the caller's visibility (a bound key sees one customer)."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import ApiKey, Customer, CustomerAlias
from billingsite.errors import NotFound


def customers_visible_to(api_key: ApiKey | None) -> QuerySet[Customer]:
    qs = Customer.objects.prefetch_related(
        Prefetch("aliases", queryset=CustomerAlias.objects.order_by("alias"))
    )
    if api_key is not None and api_key.customer_id is not None:
        qs = qs.filter(pk=api_key.customer_id)
    return qs


def customer_for_key(
    api_key: ApiKey | None, external_id: str, *, with_aliases: bool = True
) -> Customer:
    """The customer named ``external_id`` if this key may see it; 404 otherwise (no leak).
    ``with_aliases=False`` skips the second query that loads its aliases (hot read paths
    that never show them, e.g. the usage API)."""
    qs = customers_visible_to(api_key)
    if not with_aliases:
        qs = qs.prefetch_related(None)
    customer = qs.filter(external_id=external_id).first()
    if customer is None:
        raise NotFound(f"No customer with external id {external_id!r}.")
    return customer


def customer_for_key_by_identifier(api_key: ApiKey | None, identifier: str) -> Customer:
    """The customer named by its external id or one of its aliases (a list filter's
    ``?customer=``), if this key may see it; 404 otherwise, as ``customer_for_key`` (a bound key
    naming another customer learns nothing)."""
    customer = (
        customers_visible_to(api_key)
        .filter(Q(external_id=identifier) | Q(aliases__alias=identifier))
        .distinct()
        .first()
    )
    if customer is None:
        raise NotFound(f"No customer with external id {identifier!r}.")
    return customer
