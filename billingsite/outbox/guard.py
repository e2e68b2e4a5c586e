"""Refuse external calls made inside a database transaction (DESIGN.md section 6).

A Stripe call inside ``transaction.atomic`` can succeed while the transaction rolls back, so
Stripe would hold an object we have no record of. The outbox runs handlers through
``assert_no_transaction``; the tests' own wrapping transaction (pytest-django's ``django_db``)
is not counted, so fast tests still exercise the real check.
"""

from __future__ import annotations

from django.db import connection


class InsideTransactionError(RuntimeError):
    """An external call was attempted inside ``transaction.atomic``."""


def in_business_transaction() -> bool:
    """True when an ``atomic`` block other than a test case's own wrapper is open."""
    if not connection.in_atomic_block:
        return False
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def assert_no_transaction(what: str) -> None:
    if in_business_transaction():
        raise InsideTransactionError(f"{what} must not run inside a database transaction")
