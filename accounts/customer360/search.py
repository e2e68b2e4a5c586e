"""Customer search that support expects, extensible by the apps.

Built in: name, external id, alias, billing email, contact email, Stripe customer id. Apps add
providers: ``register_customer_search(key, func)`` where ``func(term)`` returns customer ids
(invoicing: invoice numbers, Stripe invoice/charge/payment-intent ids; disputes next: Stripe
dispute ids). Providers match exact ids; names match by substring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db.models import Q, QuerySet

from accounts.models import Customer

logger = logging.getLogger(__name__)

SearchFunc = Callable[[str], Iterable[int]]
_providers: dict[str, SearchFunc] = {}


def register_customer_search(key: str, func: SearchFunc) -> None:
    _providers[key] = func


def builtin_q(term: str) -> Q:
    return (
        Q(name__icontains=term)
        | Q(external_id__iexact=term)
        | Q(email__iexact=term)
        | Q(aliases__alias__iexact=term)
        | Q(contacts__email__iexact=term)
        | Q(stripe_customer_id=term)
    )


def provider_customer_ids(term: str) -> set[int]:
    """Customer ids the registered providers find for ``term`` (a failing provider is
    logged and skipped: search must keep working)."""
    from accounts.customer360.registry import autodiscover

    autodiscover()
    found: set[int] = set()
    for key, func in _providers.items():
        try:
            found.update(func(term))
        except Exception:
            logger.exception("customer search provider failed", extra={"provider": key})
    return found


def customers_matching(term: str) -> QuerySet[Customer]:
    term = term.strip()
    if not term:
        return Customer.objects.none()
    ids = provider_customer_ids(term)
    return Customer.objects.filter(builtin_q(term) | Q(pk__in=ids)).distinct().order_by("name")
