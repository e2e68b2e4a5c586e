"""The admin home dashboard: panels per staff role, registered by the apps.

An app adds a panel with ``register_panel(role, title, func)`` from its ``<app>/dashboard.py``
(imported once by ``autodiscover()``, like ``admin.py``); ``func(request)`` returns the rows to
show, newest or most urgent first. The admin index renders ``panels_for(request)`` above the
app list.

Invariants:
- A user sees a panel only when one of their roles (groups) is among the panel's roles and
  they hold every permission the panel names. Superusers count as the Admin role.
- Admins also see the panels of the other roles: they are the fallback for every desk.
- One failing panel never takes the admin home page down: it renders as an error state and
  the exception is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django.utils.timesince import timesince

logger = logging.getLogger(__name__)

# The staff role names, in display order, and the one that sees every desk. The base knows no
# app: accounts (which owns the roles) sets them from its AppConfig.ready() with set_roles().
ROLES: tuple[str, ...] = ()
ADMIN_ROLE = ""
TONES = frozenset({"", "ok", "info", "warn", "danger"})


@dataclass(frozen=True)
class Row:
    """One line of a panel: a label (linked when ``url`` is set) and a quieter detail."""

    label: str
    url: str = ""
    detail: str = ""
    badge: str = ""
    tone: str = ""  # colours the badge: "", ok, info, warn, danger

    def __post_init__(self) -> None:
        if self.tone not in TONES:
            raise ValueError(f"Unknown tone {self.tone!r}; use one of {sorted(TONES)}.")


@dataclass(frozen=True)
class SearchBox:
    """A GET form on top of a panel, e.g. the customer changelist's ``?q=`` search."""

    url: str  # a URL name (reversed at render time) or a path
    placeholder: str
    param: str = "q"
    label: str = "Search"
    # fixed query values sent with the term, e.g. (("go", "1"),) to open a single match
    hidden: tuple[tuple[str, str], ...] = ()


PanelFunc = Callable[[HttpRequest], Sequence[Row]]


@dataclass(frozen=True)
class Panel:
    key: str
    roles: tuple[str, ...]
    title: str
    func: PanelFunc
    permissions: tuple[str, ...] = ()
    empty: str = "Nothing to show."
    more_url: str = ""  # URL name or path of the full list
    more_label: str = "View all"
    search: SearchBox | None = None
    order: int = 100


@dataclass(frozen=True)
class RenderedPanel:
    panel: Panel
    rows: Sequence[Row] = ()
    failed: bool = False
    more_href: str = ""
    search_href: str = ""


@dataclass(frozen=True)
class RoleSection:
    role: str
    panels: list[RenderedPanel] = field(default_factory=list)


_registry: dict[str, Panel] = {}


def set_roles(roles: Iterable[str], *, admin: str) -> None:
    """Name the staff roles (display order) and the Admin role, the fallback for every desk."""
    global ROLES, ADMIN_ROLE
    ROLES = tuple(roles)
    if admin not in ROLES:
        raise ValueError(f"The admin role {admin!r} is not among {ROLES}.")
    ADMIN_ROLE = admin


def register_panel(
    role: str | Iterable[str],
    title: str,
    func: PanelFunc,
    *,
    key: str | None = None,
    permissions: Iterable[str] = (),
    empty: str = "Nothing to show.",
    more_url: str = "",
    more_label: str = "View all",
    search: SearchBox | None = None,
    order: int = 100,
) -> Panel:
    """Add (or replace, by ``key``) a dashboard panel for one or more roles."""
    roles = (role,) if isinstance(role, str) else tuple(role)
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"Unknown role(s) {sorted(unknown)}; use {ROLES}.")
    panel = Panel(
        key=key or f"{func.__module__}.{func.__qualname__}",
        roles=roles,
        title=title,
        func=func,
        permissions=tuple(permissions),
        empty=empty,
        more_url=more_url,
        more_label=more_label,
        search=search,
        order=order,
    )
    _registry[panel.key] = panel
    return panel


def unregister_panel(key: str) -> None:
    _registry.pop(key, None)


def registered_panels() -> list[Panel]:
    return sorted(_registry.values(), key=lambda p: (p.order, p.title))


_discovered = False
_after_discovery: list[Callable[[], None]] = []


def on_autodiscover(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the panels are discovered: for registrations that need the role
    names, which the app that owns the roles sets from its own ``ready()``."""
    _after_discovery.append(callback)


def autodiscover() -> None:
    """Import every installed app's ``dashboard`` module (once) so its panels register."""
    global _discovered
    if _discovered:
        return
    autodiscover_modules("dashboard")
    for callback in _after_discovery:
        callback()
    _discovered = True


def roles_of(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The user's staff roles in display order; superusers are Admins."""
    if not user.is_authenticated or not getattr(user, "is_staff", False):
        return []
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    if getattr(user, "is_superuser", False):
        names.add(ADMIN_ROLE)
    return [role for role in ROLES if role in names]


def _href(target: str) -> str:
    return target if not target or target.startswith("/") else reverse(target)


def _render(panel: Panel, request: HttpRequest) -> RenderedPanel:
    more = _href(panel.more_url)
    search = _href(panel.search.url) if panel.search else ""
    try:
        rows = list(panel.func(request))
    except Exception:  # a broken panel must not take the home page down
        logger.exception("dashboard panel failed", extra={"panel": panel.key})
        return RenderedPanel(panel, failed=True, more_href=more, search_href=search)
    return RenderedPanel(panel, rows=rows, more_href=more, search_href=search)


def panels_for(request: HttpRequest) -> list[RoleSection]:
    """The sections (one per role the user holds) with their rendered panels.

    A panel registered for several roles shows once, in the first of the user's roles
    that it belongs to.
    """
    autodiscover()
    user = request.user
    roles = roles_of(user)
    visible_roles = list(ROLES) if ADMIN_ROLE in roles else roles
    sections: list[RoleSection] = []
    shown: set[str] = set()
    for role in visible_roles:
        section = RoleSection(role)
        for panel in registered_panels():
            if role not in panel.roles or panel.key in shown:
                continue
            if not all(user.has_perm(perm) for perm in panel.permissions):
                continue
            shown.add(panel.key)
            section.panels.append(_render(panel, request))
        if section.panels:
            sections.append(section)
    return sections


def ago(moment: datetime | None) -> str:
    """'5 minutes ago' for a past moment (largest unit only), 'just now', or '' for None."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"


LAST_24_HOURS = timedelta(hours=24)
