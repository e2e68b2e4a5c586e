"""The outbox: enqueue with the business change, send outside transactions, backoff, dead
letters, retry now, leases, and concurrent dispatchers that never send a row twice."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from billingsite.errors import AppError
from billingsite.models import OutboxMessage, OutboxState
from billingsite.outbox.guard import InsideTransactionError
from billingsite.outbox.registry import register_outbox_handler, unregister_outbox_handler
from billingsite.outbox.services import (
    backoff_delay,
    lease_seconds,
    max_attempts,
    outbox_claim,
    outbox_dispatch,
    outbox_enqueue,
    outbox_retry_now,
    outbox_send,
)

TOPIC = "test.outbox"


class Flaky(Exception):
    retryable = True


class Script:
    """A handler whose next outcomes are scripted; records every call (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, bool]] = []
        self.fail_next: list[Exception] = []
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> dict[str, Any]:
        with self.lock:
            self.calls.append((message.pk, message.key, connection.in_atomic_block))
            failure = self.fail_next.pop(0) if self.fail_next else None
        if self.delay:
            time.sleep(self.delay)
        if failure is not None:
            raise failure
        return {"echo": message.payload.get("n")}


@pytest.fixture
def script():
    handler = Script()
    register_outbox_handler(TOPIC, handler)
    yield handler
    unregister_outbox_handler(TOPIC)


def _enqueue(key: str, n: int = 0) -> OutboxMessage:
    with transaction.atomic():
        return outbox_enqueue(TOPIC, key, {"n": n})[0]


@pytest.mark.django_db
def test_enqueue_is_one_row_per_key(script):
    first, created = outbox_enqueue(TOPIC, "thing:1:create", {"n": 1})
    again, created_again = outbox_enqueue(TOPIC, "thing:1:create", {"n": 2})
    assert created and not created_again
    assert again.pk == first.pk and again.payload == {"n": 1}
    assert OutboxMessage.objects.filter(key="thing:1:create").count() == 1
    assert first.state == OutboxState.PENDING and first.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_refuses_to_run_outside_a_transaction_and_rolls_back_with_it(script):
    with pytest.raises(RuntimeError, match="inside the business transaction"):
        outbox_enqueue(TOPIC, "thing:2:create")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        outbox_enqueue(TOPIC, "thing:3:create")
        1 / 0  # noqa: B018  the business change fails after enqueueing
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_dispatch_sends_and_records_the_result(script):
    message = _enqueue("thing:4:create", n=4)
    result = outbox_dispatch()
    message.refresh_from_db()
    assert result.as_dict() == {"sent": 1, "retry": 0, "dead": 0, "skipped": 0}
    assert message.state == OutboxState.SENT and message.attempts == 1
    assert message.result == {"echo": 4} and message.sent_at is not None
    assert [call[0] for call in script.calls] == [message.pk]
    assert outbox_dispatch().as_dict()["sent"] == 0  # nothing sent twice


@pytest.mark.django_db
def test_retryable_failure_backs_off_then_sends(script):
    message = _enqueue("thing:5:create")
    script.fail_next = [Flaky("timeout"), Flaky("timeout")]
    before = timezone.now()
    assert outbox_dispatch().as_dict()["retry"] == 1
    message.refresh_from_db()
    assert message.state == OutboxState.FAILED and message.attempts == 1
    assert message.last_error_code == "Flaky" and message.last_error == "timeout"
    assert message.next_attempt_at >= before + timedelta(seconds=3)
    assert outbox_dispatch().as_dict() == {"sent": 0, "retry": 0, "dead": 0, "skipped": 0}
    for expected in ("retry", "sent"):
        OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        assert outbox_dispatch().as_dict()[expected] == 1
    message.refresh_from_db()
    assert message.state == OutboxState.SENT and message.attempts == 3
    assert message.last_error == ""
    assert len(script.calls) == 3


@pytest.mark.django_db
def test_final_error_dead_letters_at_once(script):
    message = _enqueue("thing:6:create")
    script.fail_next = [AppError("bad_data", "The customer has no currency.")]
    assert outbox_dispatch().as_dict()["dead"] == 1
    message.refresh_from_db()
    assert message.state == OutboxState.DEAD and message.attempts == 1
    assert message.last_error_code == "bad_data"


@pytest.mark.django_db
def test_retry_cap_dead_letters(script, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    message = _enqueue("thing:7:create")
    script.fail_next = [Flaky("down")] * 5
    outcomes = []
    for _ in range(3):
        OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        outcomes.append(next(k for k, v in outbox_dispatch().as_dict().items() if v))
    message.refresh_from_db()
    assert outcomes == ["retry", "retry", "dead"]
    assert message.state == OutboxState.DEAD and message.attempts == 3
    assert outbox_dispatch().as_dict()["dead"] == 0  # dead rows are never picked up again


@pytest.mark.django_db
def test_retry_now_requeues_failed_and_dead_and_leaves_sent_alone(script):
    dead = _enqueue("thing:8:create")
    sent = _enqueue("thing:9:create")
    script.fail_next = [AppError("bad", "bad")]
    outbox_dispatch()
    dead.refresh_from_db()
    sent.refresh_from_db()
    assert (dead.state, sent.state) == (OutboxState.DEAD, OutboxState.SENT)
    results = dict(outbox_retry_now(message_ids=[dead.pk, sent.pk, 999999]))
    assert results[dead.pk].startswith("queued (was dead")
    assert results[sent.pk] == "left alone: it is sent"
    assert results[999999] == "not found"
    assert outbox_dispatch().as_dict()["sent"] == 1
    dead.refresh_from_db()
    assert dead.state == OutboxState.SENT and dead.attempts == 2


@pytest.mark.django_db
def test_handler_never_runs_inside_a_transaction(script):
    message = _enqueue("thing:10:create")
    [(message_id, attempt)] = outbox_claim(now=timezone.now())
    with pytest.raises(InsideTransactionError), transaction.atomic():
        outbox_send(message_id, attempt)
    assert script.calls == []
    outbox_send(message_id, attempt)
    assert script.calls == [(message.pk, message.key, True)]  # True: only pytest's wrapper


@pytest.mark.django_db
def test_expired_lease_is_reclaimed_and_the_stale_worker_cannot_overwrite(script):
    message = _enqueue("thing:11:create")
    assert message.state == OutboxState.PENDING
    now = timezone.now()
    [(message_id, first_attempt)] = outbox_claim(now=now)  # this worker then "dies"
    assert outbox_claim(now=now + timedelta(seconds=10)) == []  # still leased
    later = now + timedelta(seconds=lease_seconds() + 1)
    [(same_id, second_attempt)] = outbox_claim(now=later)
    assert same_id == message_id and second_attempt == first_attempt + 1
    assert outbox_send(message_id, first_attempt).outcome == "skipped"
    assert outbox_send(message_id, second_attempt).outcome == "sent"
    assert len(script.calls) == 1


def test_backoff_grows_exponentially_with_bounded_jitter():
    rng = random.Random(7)
    delays = [backoff_delay(n, rng=rng).total_seconds() for n in range(1, max_attempts())]
    for n, delay in enumerate(delays, start=1):
        expected = min(1800, 5 * 2 ** (n - 1))
        assert expected * 0.8 <= delay <= expected * 1.2
    assert sum(delays) < 24 * 3600 / 4  # well within Stripe's idempotency-key lifetime


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_send_the_same_row_twice(script):
    rows = [_enqueue(f"thing:c{n}:create", n) for n in range(40)]
    script.delay = 0.005
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            outbox_dispatch(batch=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    sends = Counter(call[0] for call in script.calls)
    assert sorted(sends) == sorted(row.pk for row in rows)
    assert set(sends.values()) == {1}
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {OutboxState.SENT}
    assert not any(call[2] for call in script.calls)  # no handler ran inside a transaction


@pytest.mark.django_db
def test_admin_lists_by_state_and_retry_now_reports_per_row(script, client):
    dead = _enqueue("thing:12:create")
    script.fail_next = [AppError("bad", "The payload is wrong.")]
    outbox_dispatch()
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    listing = client.get("/admin/billingsite/outboxmessage/?state__exact=dead")
    assert listing.status_code == 200 and "thing:12:create" in listing.content.decode()
    response = client.post(
        "/admin/billingsite/outboxmessage/", {"action": "retry_now", "_selected_action": [dead.pk]}
    )
    assert response.status_code == 200
    assert "queued (was dead, 1 attempts so far)" in response.content.decode()
    dead.refresh_from_db()
    assert dead.state == OutboxState.PENDING


@pytest.mark.django_db
def test_support_sees_dead_letters_and_only_finance_retries(script, client):
    from django.contrib.auth.models import Group

    dead = _enqueue("thing:13:create")
    script.fail_next = [AppError("bad", "The payload is wrong.")]
    outbox_dispatch()
    for role, can_retry in (("Support", False), ("Finance", True)):
        user = User.objects.create_user(f"u-{role}", password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        listing = client.get("/admin/billingsite/outboxmessage/?state__exact=dead")
        assert listing.status_code == 200 and "thing:13:create" in listing.content.decode()
        assert ('value="retry_now"' in listing.content.decode()) is can_retry
    response = client.post(
        "/admin/billingsite/outboxmessage/", {"action": "retry_now", "_selected_action": [dead.pk]}
    )
    assert "queued (was dead" in response.content.decode()
