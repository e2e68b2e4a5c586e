"""What the billing run needs to know about a chunk of contracts' invoices, read at once."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db.models import Max

from invoicing.models import Contract, Invoice, InvoiceKind
from invoicing.selectors.invoices import ISSUED
from invoicing.states import InvoiceStatus


@dataclasses.dataclass
class ContractState:
    """What the run needs to know about a contract's invoices, read for a chunk at once."""

    last_end: datetime | None = None
    drafts: list[tuple[datetime, int, datetime]] = dataclasses.field(default_factory=list)
    has_issued: bool = False
    has_grants: bool = False


def contract_states(contract_ids: list[int]) -> dict[int, ContractState]:
    """Four queries for a whole chunk instead of four per contract."""
    states = {pk: ContractState() for pk in contract_ids}
    ends = (
        Invoice.objects.filter(
            contract_id__in=contract_ids, kind=InvoiceKind.PERIOD, replaces__isnull=True
        )
        .values("contract_id")
        .annotate(end=Max("period_end"))
    )
    for row in ends:
        states[row["contract_id"]].last_end = row["end"]
    drafts = Invoice.objects.filter(contract_id__in=contract_ids, status=InvoiceStatus.DRAFT)
    for contract_id, start, pk, finalize_after in drafts.values_list(
        "contract_id", "period_start", "pk", "finalize_after"
    ):
        states[contract_id].drafts.append((start, pk, finalize_after))
    issued = Invoice.objects.filter(contract_id__in=contract_ids, status__in=ISSUED)
    for contract_id in issued.values_list("contract_id", flat=True).distinct():
        states[contract_id].has_issued = True
    with_grants = Contract.objects.filter(
        pk__in=contract_ids, customer__credit_grants__isnull=False
    )
    for contract_id in with_grants.values_list("pk", flat=True).distinct():
        states[contract_id].has_grants = True
    return states
