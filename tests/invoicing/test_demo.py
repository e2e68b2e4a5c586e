"""The invoicing demo seed: contracts, enterprise terms, finalized invoices; idempotent."""

from __future__ import annotations

import io

import pytest

from accounts import demo as accounts_demo
from invoicing import demo
from invoicing.models import Contract, CreditGrant, Invoice

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_bills_history():
    accounts_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    first = (
        Contract.objects.count(),
        Invoice.objects.count(),
        sorted(Invoice.objects.exclude(number=None).values_list("number", "total")),
    )
    assert first[0] == 4
    assert Invoice.objects.filter(status="finalized").count() >= 4 * (demo.MONTHS_OF_HISTORY - 1)
    stark = Contract.objects.get(customer__external_id="stark")
    assert stark.overrides.count() == 2 and stark.commits.count() == 1
    assert CreditGrant.objects.filter(customer=stark.customer).count() == 2
    lines = Invoice.objects.filter(contract=stark, status="finalized").values_list(
        "lines__kind", flat=True
    )
    assert {"commit", "fixed", "usage", "discount", "credit"} <= set(lines)
    demo.seed(io.StringIO())
    again = (
        Contract.objects.count(),
        Invoice.objects.count(),
        sorted(Invoice.objects.exclude(number=None).values_list("number", "total")),
    )
    assert again == first
