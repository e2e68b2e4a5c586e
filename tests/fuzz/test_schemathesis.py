"""schemathesis against Tally's own OpenAPI schema, in process (WSGI), on the test database.

Every operation of ``/api/schema/`` is fuzzed (examples, coverage and fuzzing phases, positive
and negative data, every check) with no key and with a key of each scope, including one bound
to a customer; then the stateful phase chains operations through the schema's links. The
answer is never a 5xx, and every answer matches the schema: its status is declared, its body
has the declared shape (errors: ``{"error": {"code", "message", "details"}}``), headers too.

Bounded for CI: ``MAX_EXAMPLES`` cases per operation and caller (see docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.fuzz.conftest import World

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

MAX_EXAMPLES = 8  # per operation with the admin key (all phases)
LIGHT_EXAMPLES = 3  # per operation with the other callers (no coverage phase)
STATEFUL_STEPS = 20

# Every check stays on. Two stated tolerances: a schema-valid request may still get a 400 where
# the rule is semantic and not expressible in OpenAPI (opaque cursors, ISO 4217 codes, IANA time
# zones, price models, meter filters), and an invalid one may be refused with 413 (too large).
_CHECKS = {
    "enabled": True,
    "positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
    },
    "negative_data_rejection": {
        "expected-statuses": [
            "400",
            "401",
            "403",
            "404",
            "405",
            "406",
            "409",
            "413",
            "415",
            "422",
            "428",
            "429",
        ]
    },
}


def _config(max_examples: int, *, coverage: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True},
            "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": True}},
            "checks": _CHECKS,
            "operations": [
                {
                    # 404 "no contract in effect" for a customer that exists is the documented
                    # answer (tests/invoicing/test_api.py), not a lost resource
                    "include-path": "/api/v1/customers/{external_id}/invoices/upcoming",
                    "checks": {"ensure_resource_availability": {"enabled": False}},
                }
            ],
        }
    )


# Loaded at collection: drf-spectacular builds the schema without touching the database, and
# an eagerly loaded schema gives one test item per operation (and caller).
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", get_wsgi_application(), config=_config(MAX_EXAMPLES, coverage=True)
)
light_schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", get_wsgi_application(), config=_config(LIGHT_EXAMPLES, coverage=False)
)


# The key of the caller under test. Given to schemathesis as an auth provider (not as extra
# headers) so that its own auth checks can still remove or spoil it.
_current_key: dict[str, str] = {"plaintext": ""}


class _CallerKey:
    def get(self, case: Any, context: Any) -> str:
        return _current_key["plaintext"]

    def set(self, case: Any, data: str, context: Any) -> None:
        if data:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


schema.auth(refresh_interval=None)(_CallerKey)
light_schema.auth(refresh_interval=None)(_CallerKey)


def _use_key(world: World, caller: str) -> None:
    _current_key["plaintext"] = world.keys[caller]


@pytest.fixture(autouse=True)
def _keep_test_connection() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request, which would drop
    the test's transaction; Django's own test client unhooks it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    _current_key["plaintext"] = ""
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _fuzz_every_operation_as(caller: str, loaded: Any = light_schema) -> Any:
    @loaded.parametrize()
    @settings(
        max_examples=MAX_EXAMPLES if loaded is schema else LIGHT_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def test(case: Any, world: World) -> None:
        _use_key(world, caller)
        case.call_and_validate()

    return test


# One test per caller: schemathesis's parametrize cannot be combined with pytest's.
test_every_operation_without_key = _fuzz_every_operation_as("none")
test_every_operation_with_ingest_key = _fuzz_every_operation_as("ingest")
test_every_operation_with_read_key = _fuzz_every_operation_as("read")
test_every_operation_with_admin_key = _fuzz_every_operation_as("admin", schema)
test_every_operation_with_bound_key = _fuzz_every_operation_as("bound")


@pytest.mark.parametrize("caller", ["admin", "bound"])
def test_stateful_sequences_conform(world: World, caller: str) -> None:
    _use_key(world, caller)
    schema.as_state_machine().run(
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
