"""How the access matrix asks and classifies: the operations and admin URLs are enumerated
from the generated schema and the admin site's registry, never from module paths."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from tests.fuzz.conftest import World

ROLES = ("anonymous", "customer_user", "support", "finance", "admin")
STANDARD_ADMIN_VIEWS = ("changelist", "add", "change", "delete")
MISSING_PK = "999999999"


def api_operations() -> list[str]:
    """``"METHOD /path"`` for every operation of the generated schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def api_outcome(status: int) -> str:
    """U 401, D 403, H 404, T 429, K anything else below 500 (past the gate)."""
    assert status < 500, status
    return {401: "U", 403: "D", 404: "H", 429: "T"}.get(status, "K")


def _webhook_endpoint_id() -> str:
    """An operator's webhook endpoint (operations on it need one that exists)."""
    from billingsite.webhooks.models import WebhookEndpoint
    from billingsite.webhooks.services import webhook_endpoint_create

    endpoint = WebhookEndpoint.objects.first()
    if endpoint is None:
        endpoint, _ = webhook_endpoint_create(url="https://hooks.example.com/fuzz", events=["*"])
    return str(endpoint.pk)


def api_call(world: World, operation: str, caller: str, query: dict[str, str]) -> int:
    method, path = operation.split(" ", 1)
    filled = (
        path.replace("{external_id}", world.beta.external_id)
        .replace("{key}", "calls")
        .replace("{number}", world.beta_invoice.number)
        .replace("{endpoint_id}", _webhook_endpoint_id())
        .replace("{alert_id}", beta_alert_id(world))
        .replace("{contract_id}", str(world.beta_invoice.contract_id))
        .replace("{grant_id}", MISSING_PK)
        .replace("{run_id}", MISSING_PK)
        .replace("{refund_id}", MISSING_PK)
        .replace("{dataset}", "invoices")
    )
    headers = {}
    if world.keys[caller]:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world.keys[caller]}"
    client = Client(raise_request_exception=False)
    if method == "GET":
        response = client.get(filled, query, **headers)
    else:
        response = client.generic(method, filled, b"{}", content_type="application/json", **headers)
    return response.status_code


def beta_alert_id(world: World) -> str:
    """An alert of customer ``beta`` (made on first use), for ``/alerts/{alert_id}`` paths."""
    from invoicing.alerts.models import Alert

    alert = Alert.objects.filter(customer=world.beta).first()
    if alert is None:
        alert = Alert.objects.create(
            name="fuzz", type="spend_threshold", customer=world.beta, thresholds=[{"value": "1"}]
        )
    return str(alert.pk)


def registered_models() -> list[str]:
    return sorted(model._meta.label_lower for model in admin.site._registry)


def model_admin(label: str) -> Any:
    return next(ma for m, ma in admin.site._registry.items() if m._meta.label_lower == label)


def admin_outcome(response: Any) -> str:
    """L redirected to the sign-in page, D 403, N 404, K allowed (200, or another redirect:
    the object does not exist, which Django says only after the permission check)."""
    assert response.status_code < 500, response.status_code
    if response.status_code == 302 and "/login/" in response["Location"]:
        return "L"
    return {403: "D", 404: "N"}.get(response.status_code, "K")


def client_for(user: User | None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def actions_offered(client: Client, changelist_url: str) -> set[str]:
    response = client.get(changelist_url)
    if response.status_code != 200 or response.context is None:
        return set()
    form = response.context.get("action_form")
    if form is None:
        return set()
    return {name for name, _ in form.fields["action"].choices if name}


def custom_admin_urls() -> list[tuple[str, str]]:
    """(url name, route) of every named admin URL that is not a standard ModelAdmin view:
    ModelAdmins' own views (get_urls) and the back-office pages mounted under /admin/."""
    from django.urls import URLPattern, URLResolver, get_resolver

    standard = re.compile(r"_(changelist|add|change|delete|history|autocomplete)$")
    found: list[tuple[str, str]] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                ns = pattern.namespace or namespace
                walk(pattern.url_patterns, route, ns)
            elif isinstance(pattern, URLPattern) and pattern.name and route.startswith("admin/"):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                if not standard.search(pattern.name) and not _site_url(pattern.name):
                    found.append((name, route))

    walk(get_resolver().url_patterns, "", "")
    return sorted(set(found))


def _site_url(name: str) -> bool:
    return name in {
        "index",
        "login",
        "logout",
        "password_change",
        "password_change_done",
        "autocomplete",
        "jsi18n",
        "view_on_site",
        "app_list",
    }


def fill_route(route: str, pk: int | None = None) -> str:
    """A concrete path for a route: the first converter gets ``pk`` when given, every other
    one a value naming nothing."""
    if pk is not None:
        route = re.sub(r"<(?:int:)?(\w+)>", str(pk), route, count=1)
    path = re.sub(r"<(?:int:)?(\w+)>", MISSING_PK, route)
    path = re.sub(r"<\w+:(\w+)>", "missing", path)
    path = path.replace("^", "").replace("$", "")
    return "/" + path
