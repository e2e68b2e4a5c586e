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
