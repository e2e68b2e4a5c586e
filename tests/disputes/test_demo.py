"""The demo seed: refunds in several states, disputes due soon / won / lost; re-runnable."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from disputes.models import Dispute, LedgerEntry, Refund

# Seeds the whole demo twice.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_seed_demo_twice_gives_the_same_refunds_and_disputes():
    call_command("seed_demo", stdout=io.StringIO())
    first = (
        sorted(Refund.objects.values_list("batch_ref", "status")),
        sorted(Dispute.objects.values_list("stripe_id", "status")),
        LedgerEntry.objects.count(),
    )
    call_command("seed_demo", stdout=io.StringIO())
    again = (
        sorted(Refund.objects.values_list("batch_ref", "status")),
        sorted(Dispute.objects.values_list("stripe_id", "status")),
        LedgerEntry.objects.count(),
    )
    assert first == again
    assert {s for _, s in first[0]} == {"succeeded", "pending", "failed", "requested", "rejected"}
    assert dict(first[1]) == {
        "dp_demo_soon": "needs_response",
        "dp_demo_won": "won",
        "dp_demo_lost": "lost",
    }
    assert Dispute.objects.get(stripe_id="dp_demo_soon").assignee.username == "demo-support"
    assert Refund.objects.get(batch_ref="demo:succeeded").credit_note is not None
