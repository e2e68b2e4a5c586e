""" "What would this amendment do to the next invoice?" without saving it.

The amendment is applied inside a savepoint with the real ``contract_amend``, the invoice is
computed with the real ``compute_for_period``, and the savepoint is rolled back: the preview
can never disagree with what saving would do, and nothing of it survives.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import transaction

from invoicing.models import Contract
from invoicing.periods import local_midnight_utc
from invoicing.selectors.computation import InvoiceComputation
from invoicing.selectors.invoices import compute_for_period, contract_period, contracts_with_terms
from invoicing.services.contracts import AmendmentInput, contract_amend
from invoicing.usage import UsageSource, default_usage


@dataclasses.dataclass(frozen=True)
class AmendmentImpact:
    before: InvoiceComputation
    after: InvoiceComputation

    @property
    def difference(self):  # type: ignore[no-untyped-def]
        return self.after.total - self.before.total


def amendment_preview(
    *, contract: Contract, change: AmendmentInput, at: datetime, usage: UsageSource | None = None
) -> AmendmentImpact:
    """The next invoice (the period containing ``at``, or the amendment's first period if
    later) before and after ``change``."""
    usage = usage or default_usage()
    start = max(at, local_midnight_utc(change.effective_date, contract.timezone))
    period = contract_period(contract, start)
    with transaction.atomic():
        fresh = contracts_with_terms().get(pk=contract.pk)
        before = compute_for_period(fresh, period, usage=usage)
        savepoint = transaction.savepoint()
        try:
            contract_amend(contract=fresh, change=change)
            after = compute_for_period(
                contracts_with_terms().get(pk=contract.pk), period, usage=usage
            )
        finally:
            transaction.savepoint_rollback(savepoint)
    return AmendmentImpact(before, after)
