"""Staff roles: the Support, Finance and Admin groups and the permissions each one holds.

The groups are created by a data migration and kept complete after every ``migrate`` (models
that later apps add get their permissions assigned too). A role is a list of rules; a rule
grants ``actions`` on every model of ``app`` (or on the listed ``models``), or names extra
permission codenames outright.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUPPORT = "Support"
FINANCE = "Finance"
ADMIN = "Admin"
ROLE_BY_SLUG = {"support": SUPPORT, "finance": FINANCE, "admin": ADMIN}


@dataclass(frozen=True)
class Rule:
    app: str
    actions: tuple[str, ...] = ("view",)
    models: tuple[str, ...] = ()  # empty: every model of the app
    codenames: tuple[str, ...] = field(default=())  # extra custom permissions in this app


_SUPPORT_RULES = (
    Rule(
        "accounts",
        ("view",),
        models=(
            "customer",
            "customeralias",
            "contact",
            "customeruser",
            "usagelink",
            "usagepagesignin",
        ),
    ),
    # Support keeps contact details current, but not billing terms (currency, tax id); it
    # creates and revokes usage-page links.
    Rule(
        "accounts",
        ("add", "change"),
        models=("customeralias", "contact", "customeruser", "usagelink"),
    ),
    Rule("accounts", ("change",), models=("customer",)),
    Rule("metering", ("view",)),
    Rule("invoicing", ("view",)),
    Rule("disputes", ("view",)),
    Rule(
        "disputes",
        ("add", "change"),
        models=("refund", "dispute", "disputenote"),
        codenames=("request_refund", "work_dispute"),
    ),
    # The outbox (what was or will be told to Stripe): Support sees failures; Finance retries.
    Rule("billingsite", ("view",), models=("outboxmessage",)),
)

_FINANCE_RULES = (
    *_SUPPORT_RULES,
    Rule("accounts", ("add",), models=("customer",), codenames=("change_customer_billing_terms",)),
    Rule("metering", ("add", "change")),
    Rule("invoicing", ("add", "change", "delete")),
    Rule("disputes", ("add", "change"), codenames=("approve_refund",)),
    Rule("billingsite", ("change",), models=("outboxmessage",)),
    # The finance dashboard and the export cursors (reporting).
    Rule("reporting", ("view",), codenames=("view_finance_dashboard",)),
    # Revenue recognition (issue 20): the journal and the month close are Finance's.
    Rule("revenue", ("view",)),
)

ROLE_RULES: dict[str, tuple[Rule, ...]] = {SUPPORT: _SUPPORT_RULES, FINANCE: _FINANCE_RULES}


def _codenames_for(rule: Rule, models_by_app: dict[str, list[str]]) -> set[str]:
    models = rule.models or tuple(models_by_app.get(rule.app, ()))
    names = {f"{action}_{model}" for action in rule.actions for model in models}
    return names | set(rule.codenames)


def sync_roles(apps: Any) -> None:
    """Create the role groups and set exactly the permissions the rules grant (idempotent)."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    all_perms = list(permission_model.objects.select_related("content_type"))
    models_by_app: dict[str, list[str]] = {}
    for perm in all_perms:
        models_by_app.setdefault(perm.content_type.app_label, [])
        if perm.content_type.model not in models_by_app[perm.content_type.app_label]:
            models_by_app[perm.content_type.app_label].append(perm.content_type.model)
    by_key = {(p.content_type.app_label, p.codename): p for p in all_perms}
    for role, rules in ROLE_RULES.items():
        wanted = set()
        for rule in rules:
            for codename in _codenames_for(rule, models_by_app):
                perm = by_key.get((rule.app, codename))
                if perm is not None:
                    wanted.add(perm.pk)
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set(sorted(wanted))
    admin, _ = group_model.objects.get_or_create(name=ADMIN)
    admin.permissions.set([p.pk for p in all_perms])


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    """After `migrate` and after `flush` (which test databases use between transactional tests)."""
    if sender.name != "accounts":
        return
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions of every installed app exist before the groups are filled.
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles(global_apps)
