"""Attribute stored events when a customer or alias appears (accounts does not import metering:
metering listens). The work runs after the creating transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Customer, CustomerAlias

logger = logging.getLogger(__name__)


def _attribute_later(identifier: str) -> None:
    def run() -> None:
        from metering.services import events_attribute

        try:
            events_attribute(identifiers=[identifier])
        except Exception:  # the periodic sweep (metering.events_attribute_sweep) retries
            logger.exception("attributing events for %r failed", identifier)

    transaction.on_commit(run)


@receiver(post_save, sender=Customer, dispatch_uid="metering.attribute_customer")
def _customer_saved(sender: Any, instance: Customer, created: bool, **_: Any) -> None:
    if created:
        _attribute_later(instance.external_id)


@receiver(post_save, sender=CustomerAlias, dispatch_uid="metering.attribute_alias")
def _alias_saved(sender: Any, instance: CustomerAlias, created: bool, **_: Any) -> None:
    if created:
        _attribute_later(instance.alias)
