"""Template tags for Tally's admin templates."""

from __future__ import annotations

from typing import Any

from django import template

from billingsite.dashboard import RoleSection, panels_for, roles_of

register = template.Library()


@register.simple_tag(takes_context=True)
def tally_dashboard(context: dict[str, Any]) -> list[RoleSection]:
    """The role sections of the admin home page for the signed-in user."""
    return panels_for(context["request"])


@register.simple_tag(takes_context=True)
def tally_roles(context: dict[str, Any]) -> list[str]:
    return roles_of(context["request"].user)


@register.simple_tag(takes_context=True)
def tally_object_links(context: dict[str, Any]) -> list[tuple[str, str]]:
    """Buttons registered by other apps for the object on this change page."""
    from billingsite.admin_links import links_for

    obj = context.get("original")
    return links_for(context["request"], obj) if obj is not None else []
