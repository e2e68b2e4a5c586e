"""Signing secrets are encrypted at rest (billingsite.fieldcrypt): the database holds Fernet
tokens, Python code sees the secret; keys rotate (MultiFernet, newest first); the migration
encrypts rows that were stored in plain text and its reverse decrypts them."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.serializers.base import DeserializationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from standardwebhooks.webhooks import Webhook

from billingsite.fieldcrypt import FieldDecryptionError, derived_key
from billingsite.webhooks.delivery import signature
from billingsite.webhooks.models import WebhookEndpoint
from billingsite.webhooks.services import webhook_endpoint_create, webhook_endpoint_rotate_secret

URL = "/api/v1/webhook-endpoints"
KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _stored(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret, previous_secret FROM billingsite_webhookendpoint WHERE id = %s", [pk]
        )
        row = cursor.fetchone()
    return row[0], row[1]


@pytest.mark.django_db
def test_the_database_holds_tokens_not_secrets(settings):
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_A
    endpoint, old = webhook_endpoint_create(url="https://hooks.example.com/a", events=["*"])
    _, new = webhook_endpoint_rotate_secret(endpoint=endpoint)
    stored_new, stored_old = _stored(endpoint.pk)
    for stored, plain in ((stored_new, new), (stored_old, old)):
        assert plain not in stored and not stored.startswith("whsec_")
        assert Fernet(KEY_A.encode()).decrypt(stored.encode()).decode() == plain
    fresh = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (fresh.secret, fresh.previous_secret) == (new, old)


@pytest.mark.django_db
def test_signatures_still_verify_with_both_secrets_during_the_overlap(settings):
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_A
    endpoint, old = webhook_endpoint_create(url="https://hooks.example.com/a", events=["*"])
    _, new = webhook_endpoint_rotate_secret(endpoint=endpoint)
    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)  # read back: decrypted
    from django.utils import timezone

    at = timezone.now()
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(endpoint, "evt_1", at, b'{"a":1}'),
    }
    Webhook(new).verify('{"a":1}', headers)
    Webhook(old).verify('{"a":1}', headers)


@pytest.mark.django_db
def test_key_rotation_newest_first_then_drop_the_old_key(settings):
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_A
    endpoint, secret = webhook_endpoint_create(url="https://hooks.example.com/a", events=["*"])
    settings.TALLY_FIELD_ENCRYPTION_KEY = f"{KEY_B},{KEY_A}"  # B encrypts, A still opens
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret
    call_command("rotate_field_encryption", stdout=open("/dev/null", "w"))
    stored, _ = _stored(endpoint.pk)
    assert Fernet(KEY_B.encode()).decrypt(stored.encode()).decode() == secret
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_B  # the old key dropped
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_A  # a key that never encrypted it
    with pytest.raises(FieldDecryptionError):
        WebhookEndpoint.objects.get(pk=endpoint.pk)


@pytest.mark.django_db
def test_without_a_key_one_is_derived_from_secret_key(settings, caplog):
    settings.TALLY_FIELD_ENCRYPTION_KEY = ""
    settings.SECRET_KEY = "a-secret-key-only-this-test-uses"
    with caplog.at_level(logging.WARNING, logger="billingsite.fieldcrypt"):
        endpoint, secret = webhook_endpoint_create(url="https://hooks.example.com/a", events=["*"])
    stored, _ = _stored(endpoint.pk)
    assert Fernet(derived_key(settings.SECRET_KEY)).decrypt(stored.encode()).decode() == secret
    assert any("TALLY_FIELD_ENCRYPTION_KEY is not set" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db
def test_the_secret_is_answered_once_and_never_logged(admin_api, caplog):
    with caplog.at_level(logging.DEBUG):
        created = admin_api.post(
            URL, {"url": "https://hooks.example.com/t", "events": ["*"]}, format="json"
        ).json()
        rotated = admin_api.post(f"{URL}/{created['id']}/rotate-secret").json()
    for secret in (created["secret"], rotated["secret"]):
        assert secret.startswith("whsec_")
        assert not any(secret in r.getMessage() for r in caplog.records)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_plain_rows_and_its_reverse_decrypts(settings):
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_A
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("billingsite")
    before = [("billingsite", "0005_webhooks")]
    try:
        executor.migrate(before)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO billingsite_webhookendpoint (url, events, description, enabled,"
                " secret, previous_secret, disabled_reason, consecutive_failures, created_at,"
                " updated_at) VALUES ('https://h.example.com', '[\"*\"]', '', true,"
                " 'whsec_cGxhaW4=', '', '', 0, now(), now()) RETURNING id"
            )
            pk = cursor.fetchone()[0]
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        stored, previous = _stored(pk)
        assert previous == "" and not stored.startswith("whsec_")
        assert Fernet(KEY_A.encode()).decrypt(stored.encode()) == b"whsec_cGxhaW4="
        assert WebhookEndpoint.objects.get(pk=pk).secret == "whsec_cGxhaW4="
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        assert _stored(pk) == ("whsec_cGxhaW4=", "")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)


@pytest.mark.django_db
def test_dumpdata_writes_tokens_and_loaddata_reads_them_back(settings, tmp_path):
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_A
    endpoint, old = webhook_endpoint_create(url="https://hooks.example.com/a", events=["*"])
    _, new = webhook_endpoint_rotate_secret(endpoint=endpoint)
    dump = tmp_path / "endpoints.json"
    call_command("dumpdata", "billingsite.webhookendpoint", output=str(dump), verbosity=0)
    text = dump.read_text()
    assert new not in text and old not in text and "whsec_" not in text
    assert text.count('"fernet:') == 2

    WebhookEndpoint.objects.all().delete()
    call_command("loaddata", str(dump), verbosity=0)
    loaded = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (loaded.secret, loaded.previous_secret) == (new, old)
    assert not _stored(endpoint.pk)[0].startswith(("whsec_", "fernet:"))

    WebhookEndpoint.objects.all().delete()
    settings.TALLY_FIELD_ENCRYPTION_KEY = KEY_B  # a dump is only as readable as its keys
    with pytest.raises(DeserializationError, match="cannot be decrypted"):
        call_command("loaddata", str(dump), verbosity=0)
