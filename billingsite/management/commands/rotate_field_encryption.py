"""Re-encrypt every stored secret with the newest TALLY_FIELD_ENCRYPTION_KEY (the first one).

Run after putting a new key in front of the list; once it reports, the old keys can be
dropped from the setting. Rows are re-encrypted one by one under a row lock; the secrets
themselves are never printed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from billingsite.webhooks.models import WebhookEndpoint


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (webhook signing secrets) with the newest field key."

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0
        for pk in WebhookEndpoint.objects.values_list("pk", flat=True).iterator():
            with transaction.atomic():
                # read decrypted (any configured key), written encrypted (the newest key)
                plain = (
                    WebhookEndpoint.objects.select_for_update()
                    .filter(pk=pk)
                    .values_list("secret", "previous_secret")
                    .first()
                )
                if plain is None:  # deleted meanwhile
                    continue
                WebhookEndpoint.objects.filter(pk=pk).update(
                    secret=plain[0], previous_secret=plain[1]
                )
                done += 1
        self.stdout.write(f"re-encrypted the secrets of {done} webhook endpoint(s)")
