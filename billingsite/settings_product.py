"""Tally's product settings: API keys, refunds, Stripe, ingest limits, attempt limits, and one
block per feature (webhooks, alerts, collections and tax, entitlements, revenue recognition,
exports), read from the environment. ``billingsite.settings`` (the framework's settings) imports
everything here at its end; read them as ``settings.NAME``."""

from __future__ import annotations

import os
from decimal import Decimal

from billingsite.environment import TESTING, env_bool, env_list

# --- Product settings -----------------------------------------------------------------------
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# How long an API-key lookup is cached in Redis (accounts.api_key_cache); revocation is
# immediate regardless. 0 turns the cache off.
API_KEY_CACHE_SECONDS = int(os.environ.get("API_KEY_CACHE_SECONDS", 60))
REFUND_APPROVAL_THRESHOLD = Decimal(os.environ.get("REFUND_APPROVAL_THRESHOLD", "500.00"))
# Stripe's fee for a dispute, per currency (written off with the amount when a dispute is lost).
DISPUTE_FEES = {"USD": "15.00", "EUR": "15.00", "GBP": "15.00", "default": "15.00"}

STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
STRIPE_WEBHOOK_SECRETS = env_list("STRIPE_WEBHOOK_SECRETS")
# Where Stripe's Billing portal sends the customer back after updating a payment method.
STRIPE_PORTAL_RETURN_URL = os.environ.get(
    "STRIPE_PORTAL_RETURN_URL", "http://localhost:8000/usage/"
)

# Ingest limits (POST /api/v1/events), stated in the API docs and enforced per request/event.
METERING_MAX_EVENTS_PER_REQUEST = int(os.environ.get("METERING_MAX_EVENTS_PER_REQUEST", 5000))
METERING_MAX_REQUEST_BYTES = int(os.environ.get("METERING_MAX_REQUEST_BYTES", 5 * 1024 * 1024))
METERING_MAX_DECOMPRESSED_BYTES = int(
    os.environ.get("METERING_MAX_DECOMPRESSED_BYTES", 20 * 1024 * 1024)
)
METERING_MAX_FUTURE_SECONDS = int(os.environ.get("METERING_MAX_FUTURE_SECONDS", 300))
METERING_MAX_EVENT_AGE_DAYS = int(os.environ.get("METERING_MAX_EVENT_AGE_DAYS", 35))
METERING_MAX_PROPERTIES_BYTES = int(os.environ.get("METERING_MAX_PROPERTIES_BYTES", 16 * 1024))
# Usage events are partitioned by month (docs/scaling.md): partitions are created this many
# months ahead (beat task), check_invariants wants at least MIN_AHEAD, and the dedup keys are
# kept METERING_MAX_EVENT_AGE_DAYS (the dedup window) + MARGIN days after their event's time.
METERING_PARTITIONS_AHEAD = int(os.environ.get("METERING_PARTITIONS_AHEAD", 3))
METERING_PARTITIONS_MIN_AHEAD = int(os.environ.get("METERING_PARTITIONS_MIN_AHEAD", 1))
METERING_EVENT_KEY_MARGIN_DAYS = int(os.environ.get("METERING_EVENT_KEY_MARGIN_DAYS", 30))
METERING_ROLLUP_BATCH_EVENTS = int(os.environ.get("METERING_ROLLUP_BATCH_EVENTS", 50_000))
# check_invariants (and the alert rule on tally_rollup_lag_seconds) call the rollup queue
# stalled when a batch has waited longer than this; rollups normally lag a few seconds.
METERING_ROLLUP_STALL_SECONDS = int(os.environ.get("METERING_ROLLUP_STALL_SECONDS", 600))
# check_invariants reports outbox rows still pending/failing/sending after this long.
OUTBOX_STALL_SECONDS = int(os.environ.get("OUTBOX_STALL_SECONDS", 3600))
# Pinned in code (not the environment): an SDK upgrade must not silently move the API version
# our payloads and webhook handlers assume. Change it deliberately, with the SDK.
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_CONNECT_TIMEOUT_SECONDS", "5"))
STRIPE_READ_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_READ_TIMEOUT_SECONDS", "30"))
# How old a signed webhook may be (replay window), as in Stripe's own libraries.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("STRIPE_WEBHOOK_TOLERANCE_SECONDS", "300"))

# Attempt limits, counted in Redis (accounts.attempts): "<attempts>/<period>" with units s, m,
# h, d (e.g. "5/15m"), or "off". Past a limit, the account or address is locked out for one
# period. Addresses are REMOTE_ADDR as the web server sees it: behind a proxy that hides the
# clients' addresses, turn the per-address limits off (they would count everyone together).
USAGE_SIGN_IN_LIMIT_PER_USERNAME = os.environ.get("USAGE_SIGN_IN_LIMIT_PER_USERNAME", "5/15m")
USAGE_SIGN_IN_LIMIT_PER_IP = os.environ.get("USAGE_SIGN_IN_LIMIT_PER_IP", "20/15m")
USAGE_PASSWORD_RESET_LIMIT_PER_EMAIL = os.environ.get(
    "USAGE_PASSWORD_RESET_LIMIT_PER_EMAIL", "3/1h"
)
USAGE_PASSWORD_RESET_LIMIT_PER_IP = os.environ.get("USAGE_PASSWORD_RESET_LIMIT_PER_IP", "10/1h")
API_AUTH_FAILURE_LIMIT_PER_IP = os.environ.get("API_AUTH_FAILURE_LIMIT_PER_IP", "30/5m")

# --- Revenue recognition (issue 20) ---------------------------------------------------------
# The time zone whose calendar days and months the journal uses (entry dates, ratable days,
# the month close). One zone for the whole book, as a finance team closes one calendar.
REVENUE_TIMEZONE = os.environ.get("REVENUE_TIMEZONE", "UTC")

# --- Collections (dunning) and tax (issue 19, items 4-5; docs/collections-and-tax.md) ---------
# Retry a failed payment this many days after the first failure; remind the billing contacts
# this many days from the due date (negative = before it); suspend the customer this many days
# after the due date (empty = never).
COLLECTIONS_RETRY_DAYS = [int(d) for d in env_list("COLLECTIONS_RETRY_DAYS", "3,5,7")]
COLLECTIONS_REMINDER_DAYS = [int(d) for d in env_list("COLLECTIONS_REMINDER_DAYS", "-3,0,3,7")]
COLLECTIONS_SUSPEND_AFTER_DAYS = (
    int(os.environ["COLLECTIONS_SUSPEND_AFTER_DAYS"])
    if os.environ.get("COLLECTIONS_SUSPEND_AFTER_DAYS", "").strip()
    else None
)
# The tax provider (dotted path to a class with ``quote``); the built-in rate table by default.
TAX_PROVIDER = os.environ.get("TAX_PROVIDER", "invoicing.tax.table.TableTaxProvider")
# The seller's country: an EU customer with a valid VAT id in another EU country is invoiced
# without VAT (reverse charge) when this is an EU country.
TAX_SELLER_COUNTRY = os.environ.get("TAX_SELLER_COUNTRY", "").strip().upper()

# --- Alerts (issue 17) ---
# Customers may create their own spend and usage alerts on the usage pages (self-serve budgets).
ALERTS_SELF_SERVE = env_bool("ALERTS_SELF_SERVE", True)
# Customers evaluated per claimed batch, and how long a claimed batch is leased to a worker.
ALERTS_EVALUATION_BATCH = int(os.environ.get("ALERTS_EVALUATION_BATCH", 200))
ALERTS_EVALUATION_LEASE_SECONDS = int(os.environ.get("ALERTS_EVALUATION_LEASE_SECONDS", 120))
# How long an evaluator trusts a spend it computed as the base of its headroom bound.
ALERTS_SPEND_MEMO_SECONDS = int(os.environ.get("ALERTS_SPEND_MEMO_SECONDS", 300))
# At most this many self-serve alerts per customer.
ALERTS_SELF_SERVE_MAX = int(os.environ.get("ALERTS_SELF_SERVE_MAX", 20))

# --- Prepaid credit on the usage pages (issue 18, docs/credits.md) ---
# A signed-in customer user may buy a credit top-up from the usage pages' Credits page (charged
# on their default card through the same service and outbox as the API). Off by default.
CREDIT_TOP_UP_SELF_SERVE = env_bool("CREDIT_TOP_UP_SELF_SERVE", False)
# The smallest and largest top-up a customer may buy there, in their currency's major unit.
CREDIT_TOP_UP_SELF_SERVE_MIN = Decimal(os.environ.get("CREDIT_TOP_UP_SELF_SERVE_MIN", "10"))
CREDIT_TOP_UP_SELF_SERVE_MAX = Decimal(os.environ.get("CREDIT_TOP_UP_SELF_SERVE_MAX", "5000"))

# --- Outbound webhooks (issue 17, docs/webhooks.md) ----------------------------------------
# Local development only (and on in tests): allow http:// and private/loopback addresses.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS") or TESTING
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", 10))
# Retries: 30 s doubling up to 6 h between tries (with jitter), for up to 3 days.
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", 30))
WEBHOOK_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600))
WEBHOOK_RETRY_HOURS = float(os.environ.get("WEBHOOK_RETRY_HOURS", 72))
WEBHOOK_RETRY_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_RETRY_MAX_ATTEMPTS", 100))
# An endpoint is disabled after this many failed deliveries in a row spanning this many hours.
WEBHOOK_DISABLE_AFTER_FAILURES = int(os.environ.get("WEBHOOK_DISABLE_AFTER_FAILURES", 20))
WEBHOOK_DISABLE_AFTER_HOURS = float(os.environ.get("WEBHOOK_DISABLE_AFTER_HOURS", 24))
# Who is mailed when an endpoint is disabled (comma-separated); empty: the ADMINS.
WEBHOOK_OPERATOR_EMAILS = env_list("WEBHOOK_OPERATOR_EMAILS")
# After a secret rotation the previous secret also signs for this long.
WEBHOOK_SECRET_OVERLAP_HOURS = float(os.environ.get("WEBHOOK_SECRET_OVERLAP_HOURS", 24))
# Fernet keys, comma-separated, newest first, for secrets stored encrypted (webhook signing
# secrets; billingsite/fieldcrypt.py). Unset: derived from SECRET_KEY, with a warning.
TALLY_FIELD_ENCRYPTION_KEY = os.environ.get("TALLY_FIELD_ENCRYPTION_KEY", "")
WEBHOOK_REPLAY_MAX_EVENTS = int(os.environ.get("WEBHOOK_REPLAY_MAX_EVENTS", 10_000))

# --- Exports and the finance dashboard (reporting; docs/exports.md) ---------------------------
# The folder the nightly export writes to (<dir>/<dataset>/<dataset>-<run>.<format>); empty
# turns the nightly export off. Formats: csv and/or parquet.
REPORTING_EXPORT_DIR = os.environ.get("REPORTING_EXPORT_DIR", "")
REPORTING_EXPORT_FORMATS = env_list("REPORTING_EXPORT_FORMATS", "parquet")
# Rows are exported up to this many seconds before the run, so a transaction that committed
# late with an earlier updated_at is still ahead of the cursor.
REPORTING_EXPORT_LAG_SECONDS = int(os.environ.get("REPORTING_EXPORT_LAG_SECONDS", 300))
# Rows per page of GET /api/v1/exports/{dataset} (default and cap).
REPORTING_API_PAGE_ROWS = int(os.environ.get("REPORTING_API_PAGE_ROWS", 500))
REPORTING_API_MAX_PAGE_ROWS = int(os.environ.get("REPORTING_API_MAX_PAGE_ROWS", 5000))

# --- Entitlements (issue 18) ---------------------------------------------------------------
# Deny check/consume/reserve for customers past due (suspended customers are always denied).
ENTITLEMENTS_DENY_PAST_DUE = env_bool("ENTITLEMENTS_DENY_PAST_DUE")
# Longest a reservation may hold (seconds) and how long one holds when not told.
ENTITLEMENTS_RESERVATION_MAX_SECONDS = int(
    os.environ.get("ENTITLEMENTS_RESERVATION_MAX_SECONDS", "86400")
)
ENTITLEMENTS_RESERVATION_DEFAULT_SECONDS = int(
    os.environ.get("ENTITLEMENTS_RESERVATION_DEFAULT_SECONDS", "300")
)
# Seconds a process keeps a plan version's feature grants (contract overrides show at once).
# Off in tests: rows reappear with the same keys after each test's rollback.
ENTITLEMENTS_CACHE_SECONDS = float(
    os.environ.get("ENTITLEMENTS_CACHE_SECONDS", "0" if TESTING else "5")
)

# --- Usage event store (issue 16) ------------------------------------------------------------
# Where usage events are kept and counted: "postgres" (default, the system of record) or another
# registered store (metering.stores.register_store), e.g. "chdb:<path>" or "clickhouse://...".
TALLY_EVENT_STORE = os.environ.get("TALLY_EVENT_STORE", "")

# --- Invoice and credit-note PDFs (invoicing.services.pdf) ----------------------------------
# The seller block printed on every invoice and credit note. Address lines are separated by
# "|" ("Tally Demo Inc.|1 Market St|San Francisco, CA 94105|US"). The logo is a PNG, JPEG or
# SVG file path; empty = the bundled Tally logo (billingsite/static/tally/favicon.svg).
INVOICE_SELLER_NAME = os.environ.get("INVOICE_SELLER_NAME", "Tally Demo Inc.")
INVOICE_SELLER_ADDRESS = os.environ.get(
    "INVOICE_SELLER_ADDRESS", "100 Example Street|San Francisco, CA 94105|United States"
)
INVOICE_SELLER_TAX_ID = os.environ.get("INVOICE_SELLER_TAX_ID", "US EIN 00-0000000")
INVOICE_SELLER_EMAIL = os.environ.get("INVOICE_SELLER_EMAIL", "billing@tally.invalid")
INVOICE_SELLER_LOGO = os.environ.get("INVOICE_SELLER_LOGO", "")
# --- Replicated ingest log (issue 16, docs/scaling.md) ---------------------------------------
# nats://host:port[,host:port...]: the ingest API validates, publishes valid events to NATS
# JetStream and answers after the log's PubAck; `manage.py events_sink` writes them to the store.
# Unset: events are written to the store inside the request (the default, unchanged).
TALLY_EVENT_LOG = os.environ.get("TALLY_EVENT_LOG", "")
TALLY_EVENT_LOG_STREAM = os.environ.get("TALLY_EVENT_LOG_STREAM", "TALLY_EVENTS")
TALLY_EVENT_LOG_PARTITIONS = int(os.environ.get("TALLY_EVENT_LOG_PARTITIONS", 4))
# 1 on a single server; 3 on a cluster of 3 or more (set by the operator, checked at start).
TALLY_EVENT_LOG_REPLICAS = int(os.environ.get("TALLY_EVENT_LOG_REPLICAS", 1))
TALLY_EVENT_LOG_TIMEOUT_SECONDS = float(os.environ.get("TALLY_EVENT_LOG_TIMEOUT_SECONDS", 5))
# /metrics reads the backlog within this deadline and keeps the answer (or "down") this long per
# process, so a scrape answers fast when NATS is down (tally_eventlog_up 0).
TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS = float(
    os.environ.get("TALLY_EVENT_LOG_PROBE_TIMEOUT_SECONDS", 1)
)
TALLY_EVENT_LOG_PROBE_CACHE_SECONDS = float(
    os.environ.get("TALLY_EVENT_LOG_PROBE_CACHE_SECONDS", 5)
)
# JetStream drops a re-published batch (same Nats-Msg-Id) within this window; later re-sends
# are classified as duplicates by the store's unique key, so the window is a saving, not a guard.
TALLY_EVENT_LOG_DEDUP_SECONDS = int(os.environ.get("TALLY_EVENT_LOG_DEDUP_SECONDS", 120))
# check_invariants flags a partition whose oldest unconsumed message is older than this, or whose
# backlog exceeds TALLY_EVENT_LOG_MAX_BACKLOG messages.
TALLY_EVENT_LOG_STALL_SECONDS = int(os.environ.get("TALLY_EVENT_LOG_STALL_SECONDS", 300))
TALLY_EVENT_LOG_MAX_BACKLOG = int(os.environ.get("TALLY_EVENT_LOG_MAX_BACKLOG", 100_000))
# A message a sink fetched but did not acknowledge within this time is delivered again (to it or
# another sink of the partition); SinkBatch makes the second delivery a no-op when the first
# was applied.
TALLY_EVENT_LOG_ACK_WAIT_SECONDS = float(os.environ.get("TALLY_EVENT_LOG_ACK_WAIT_SECONDS", 30))
# A message whose store keeps failing is parked (metering.SinkDeadLetter, acknowledged) on this
# delivery instead of being redelivered forever; one that cannot be decoded is parked at once.
TALLY_EVENT_LOG_MAX_DELIVERIES = int(os.environ.get("TALLY_EVENT_LOG_MAX_DELIVERIES", 5))
