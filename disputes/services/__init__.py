"""Writes for refunds and disputes: ``refunds`` (request, approve, send, settle), ``disputes``
(webhook mirror, assignment, evidence, outcomes), ``ledger``, ``automated`` (duplicate payment,
voided paid invoice, SLA batch), ``reminders``."""
