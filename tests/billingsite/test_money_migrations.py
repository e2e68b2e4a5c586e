"""The MoneyField migrations keep every stored amount and currency.

Rolls the apps back to the migration before the conversion, writes rows through the historical
(pre-conversion) models, migrates forward again and reads the rows through the current models.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from djmoney.money import Money

from disputes.models import Dispute, LedgerEntry

D = Decimal

BEFORE = [("disputes", "0001_initial")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_conversion() -> Iterator[object]:
    apps = _migrate(BEFORE)
    try:
        yield apps
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_disputes_conversion_keeps_amounts_and_currencies(before_conversion):
    apps = before_conversion
    OldDispute = apps.get_model("disputes", "Dispute")
    OldEntry = apps.get_model("disputes", "LedgerEntry")
    dispute = OldDispute.objects.create(stripe_id="dp_m", amount=D("1.235"), currency="KWD",
                                        status="needs_response")
    entry = OldEntry.objects.create(posting_key="m:1", account="cash", amount=D("-1000"),
                                    currency="JPY")

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert Dispute.objects.get(pk=dispute.pk).amount == Money(D("1.235"), "KWD")
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Money(D("-1000"), "JPY")
