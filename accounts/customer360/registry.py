"""Sections of the Customer 360 page, registered by the apps (see package docstring).

Invariants:
- A section shows only to users holding every permission it names (on top of
  ``accounts.view_customer``, which the page itself requires).
- One failing section never takes the page down: it renders as an error note, logged.
- A section's ``func(request, customer)`` only reads, and only that customer's data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils.module_loading import autodiscover_modules

from accounts.models import Customer

logger = logging.getLogger(__name__)

SectionFunc = Callable[[HttpRequest, Customer], dict[str, Any]]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    template: str
    func: SectionFunc
    permissions: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class RenderedSection:
    section: Section
    context: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


_sections: dict[str, Section] = {}
_discovered = False


def register_section(
    key: str,
    title: str,
    func: SectionFunc,
    *,
    template: str,
    permissions: Iterable[str] = (),
    order: int = 100,
) -> Section:
    """Add (or replace, by ``key``) a section; lower ``order`` shows first."""
    section = Section(key, title, template, func, tuple(permissions), order)
    _sections[key] = section
    return section


def unregister_section(key: str) -> None:
    _sections.pop(key, None)


def autodiscover() -> None:
    global _discovered
    if not _discovered:
        autodiscover_modules("customer_360")
        _discovered = True


def registered_sections() -> list[Section]:
    autodiscover()
    return sorted(_sections.values(), key=lambda s: (s.order, s.key))


def sections_for(request: HttpRequest, customer: Customer) -> list[RenderedSection]:
    rendered = []
    for section in registered_sections():
        if not all(request.user.has_perm(p) for p in section.permissions):
            continue
        try:
            rendered.append(RenderedSection(section, section.func(request, customer)))
        except Exception:  # one broken section must not hide the rest of the page
            logger.exception("customer 360 section failed", extra={"section": section.key})
            rendered.append(RenderedSection(section, failed=True))
    return rendered
