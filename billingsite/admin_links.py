"""Buttons other apps add to an admin change page, without the page's app importing them.

``disputes`` registers "Request a refund" on invoicing's invoice and payment pages this way,
keeping the one-way dependency accounts <- metering <- invoicing <- disputes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class ObjectLink:
    title: str
    url: Callable[[Any], str | None]  # None: not offered for this object (e.g. unpaid invoice)
    permission: str = ""


_LINKS: dict[str, list[ObjectLink]] = {}


def register_object_link(
    model_label: str, title: str, url: Callable[[Any], str | None], *, permission: str = ""
) -> None:
    """Offer a button on the change page of ``model_label`` (``"invoicing.invoice"``)."""
    _LINKS.setdefault(model_label.lower(), []).append(ObjectLink(title, url, permission))


def links_for(request: HttpRequest, obj: Any) -> list[tuple[str, str]]:
    label = obj._meta.label_lower
    found = []
    for link in _LINKS.get(label, []):
        if link.permission and not request.user.has_perm(link.permission):
            continue
        url = link.url(obj)
        if url:
            found.append((link.title, url))
    return found
