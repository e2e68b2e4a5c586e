"""Alerts fire from the rollup path, once per threshold step and period, and resolve."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from invoicing.alerts.models import AlertDirtyCustomer, AlertTrigger
from invoicing.alerts.services import alert_create, alerts_evaluate_pending, alerts_periods_roll
from invoicing.services.credits import credit_grant_create
from tests.invoicing.alerts.world import at, customer_on_plan, meter, recorded, send

pytestmark = pytest.mark.django_db


def usage_alert(customer, thresholds, **kw):
    return alert_create(
        name="calls",
        type="usage_threshold",
        customer=customer,
        meter=meter(),
        thresholds=thresholds,
        **kw,
    )


def test_usage_threshold_fires_once_when_crossed_and_not_on_rerun():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer, _ = customer_on_plan()
        alert = usage_alert(customer, [{"value": "10", "recurring": False}])
        alerts_evaluate_pending()
        assert not AlertTrigger.objects.exists()
        with recorded() as rec:
            send("acme", 9, at(2026, 1, 15, 11))
            assert AlertDirtyCustomer.objects.filter(customer=customer).exists()
            assert alerts_evaluate_pending().fired == 0
            send("acme", 1, at(2026, 1, 15, 11, 30))
            stats = alerts_evaluate_pending()
            send("acme", 5, at(2026, 1, 15, 11, 40))
            again = alerts_evaluate_pending()
        assert (stats.fired, again.fired) == (1, 0)
        trigger = AlertTrigger.objects.get(alert=alert)
        assert trigger.value == Decimal(10)
        assert trigger.period_start == at(2026, 1, 1)
        assert rec.keys() == [f"alert.triggered:{trigger.pk}"]
        assert rec.of("alert.triggered")[0]["customer"] == "acme"
        assert not AlertDirtyCustomer.objects.exists()


def test_recurring_threshold_fires_at_every_multiple_and_group_filter_applies():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer, _ = customer_on_plan()
        alert = usage_alert(
            customer, [{"value": "4", "recurring": True}], group_filter={"region": "eu"}
        )
        send("acme", 9, at(2026, 1, 15, 11))
        send("acme", 50, at(2026, 1, 15, 11), region="us")
        alerts_evaluate_pending()
        send("acme", 4, at(2026, 1, 15, 11))
        alerts_evaluate_pending()
        steps = sorted(AlertTrigger.objects.filter(alert=alert).values_list("step", flat=True))
        assert steps == [1, 2, 3]


def test_spend_threshold_uses_the_upcoming_invoice_and_plan_scope():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer, contract = customer_on_plan()
        alert = alert_create(
            name="budget",
            type="spend_threshold",
            plan=contract.plan_version.plan,
            thresholds=[{"value": "25", "recurring": False}],
        )
        send("acme", 24, at(2026, 1, 15, 11))
        alerts_evaluate_pending()
        assert not AlertTrigger.objects.exists()
        send("acme", 1, at(2026, 1, 15, 11))
        alerts_evaluate_pending()
        assert AlertTrigger.objects.get(alert=alert, customer=customer).value == Decimal(25)


def test_period_roll_over_resolves_and_the_next_period_fires_again():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer, _ = customer_on_plan()
        alert = usage_alert(customer, [{"value": "3", "recurring": False}])
        send("acme", 3, at(2026, 1, 15, 11))
        alerts_evaluate_pending()
    with time_machine.travel(at(2026, 2, 1, 0, 5), tick=False), recorded() as rec:
        assert alerts_periods_roll() == 1
        assert alerts_periods_roll() == 0
        send("acme", 3, at(2026, 2, 1, 0, 1))
        alerts_evaluate_pending()
    first, second = AlertTrigger.objects.filter(alert=alert).order_by("period_start")
    assert first.resolved_reason == "period_ended" and second.resolved_at is None
    assert second.period_start == at(2026, 2, 1)
    assert [e[0] for e in rec.events] == ["alert.resolved", "alert.triggered"]


def test_credit_balance_below_fires_announces_balance_low_and_resolves_on_top_up():
    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer, _ = customer_on_plan()
        alert = alert_create(
            name="low credit",
            type="credit_balance_below",
            customer=customer,
            currency="usd",
            thresholds=[{"value": "50", "recurring": False}],
        )
        with recorded() as rec:
            alerts_evaluate_pending()  # balance 0 < 50
            credit_grant_create(
                customer=customer,
                kind="promotional",
                currency="USD",
                amount=Decimal(100),
                effective_at=at(2026, 1, 1),
            )
            alerts_evaluate_pending()  # nothing queued: the grant is no usage event
            from invoicing.alerts.evaluation import alerts_evaluate_customer

            alerts_evaluate_customer(customer.pk)
        trigger = AlertTrigger.objects.get(alert=alert)
        assert trigger.resolved_reason == "recovered"
        # (the top-up itself announces credit_grant.created: not the alert's to judge)
        assert [e[0] for e in rec.events if e[0].startswith(("alert.", "credit."))] == [
            "alert.triggered",
            "credit.balance_low",
            "alert.resolved",
        ]


def test_commit_burn_fires_at_the_share_of_the_prepaid_commit_used():
    from datetime import date

    from invoicing.models import CreditEntry, CreditGrant
    from invoicing.services.contracts import commit_create

    with time_machine.travel(at(2026, 1, 15, 12), tick=False):
        customer, contract = customer_on_plan()
        commit_create(
            contract=contract, kind="prepaid", amount=Decimal(200), effective_from=date(2026, 1, 1)
        )
        alert = alert_create(
            name="burn",
            type="commit_burn",
            customer=customer,
            thresholds=[{"value": "50"}, {"value": "80"}],
        )
        alerts_evaluate_pending()
        assert not AlertTrigger.objects.exists()  # 0 % used
        grant = CreditGrant.objects.get(customer=customer)
        # 120 of 200 used (a ledger entry as an invoice's draw would write it)
        CreditEntry.objects.create(grant=grant, kind="adjustment", currency="USD", amount=-120)
        from invoicing.alerts.evaluation import alerts_evaluate_customer

        fired = alerts_evaluate_customer(customer.pk).fired
        trigger = AlertTrigger.objects.get(alert=alert)
        assert fired == [trigger.pk]
        assert (trigger.threshold_index, trigger.value) == (0, Decimal(60))
