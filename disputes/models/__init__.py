"""Refunds, disputes, their audit rows and the money ledger they post to."""

from disputes.models.disputes import (
    Dispute,
    DisputeEvidenceSubmission,
    DisputeNote,
)
from disputes.models.ledger import LedgerAccount, LedgerEntry
from disputes.models.refunds import Refund, RefundTransition

__all__ = [
    "Dispute",
    "DisputeEvidenceSubmission",
    "DisputeNote",
    "LedgerAccount",
    "LedgerEntry",
    "Refund",
    "RefundTransition",
]
