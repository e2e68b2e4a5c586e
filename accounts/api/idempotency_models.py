"""Stored answers of API POSTs sent with an ``Idempotency-Key`` header (see idempotency.py)."""

from __future__ import annotations

from django.db import models


class IdempotencyKey(models.Model):
    """One key per API key: the request's fingerprint and the answer first given to it.

    Written in the same transaction as the change the request made, so a stored answer always
    describes a committed change, and a request that failed leaves no row (a retry runs again).
    """

    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "billingsite_idempotencykey"  # moved from billingsite (issue 13); table kept
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return self.key
