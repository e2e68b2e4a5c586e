"""Django settings for Tally. Everything that differs between machines comes from the environment.

Required: DATABASE_URL, REDIS_URL, SECRET_KEY (``bin/tally`` provides all three for local runs,
starting embedded PostgreSQL and Redis when the URLs are absent).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from billingsite.redis_urls import celery_broker_url, redis_url_with_db, worker_redis_db

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(
            f"{name} is not set. Run Tally through `bin/tally` (which starts embedded "
            f"PostgreSQL and Redis) or export {name}; see README.md, 'Configuration'."
        )
    return value


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in {"1", "true", "yes"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


TESTING = env_bool("TALLY_TESTING")
DEBUG = env_bool("DEBUG")
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
if TESTING:
    ALLOWED_HOSTS += ["testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djmoney",
    "simple_history",
    "billingsite",
    "accounts",
    "metering",
    "invoicing",
    "disputes",
    "revenue",
    "reporting",
]

MIDDLEWARE = [
    "billingsite.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "billingsite.errors.ApiExceptionMiddleware",
]

ROOT_URLCONF = "billingsite.urls"
WSGI_APPLICATION = "billingsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(env("DATABASE_URL"), conn_max_age=60, conn_health_checks=True)
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if TESTING:
    # One Redis database per pytest-xdist worker: see billingsite/redis_urls.py.
    REDIS_URL = redis_url_with_db(REDIS_URL, worker_redis_db(os.environ))


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tally-test" if TESTING else "tally",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing cost is not under test; keeping PBKDF2 at full strength would dominate the suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "billingsite" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "billingsite.storage.ForgivingManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".data" / "media"))

# Request bodies: the ingest API states its own (larger) limit; everything else stays small.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Only the signed-link usage pages (/usage/l/<token>/...) may be framed, by these origins
# (CSP frame-ancestors syntax, e.g. "https://app.example.com"); everything else is DENY.
# The default 'self' lets only Tally's own pages frame them: operators embedding the pages in
# their app set its origin here.
USAGE_EMBED_FRAME_ANCESTORS = os.environ.get("USAGE_EMBED_FRAME_ANCESTORS", "'self'")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES")
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES")
# Production behind HTTPS (README, "Deploying Tally"): all off by default so a local http run
# works; `manage.py check --deploy` passes once they are set.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
# Probes and scrapers often speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
if env_bool("SECURE_PROXY_SSL_HEADER"):
    # Only behind a proxy that sets X-Forwarded-Proto itself (and strips the client's).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

EMAIL_BACKEND = (
    "django.core.mail.backends.locmem.EmailBackend"
    if TESTING
    else os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@tally.invalid")

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api.permissions.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["billingsite.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "billingsite.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": os.environ.get("API_RATE_LIMIT", "6000/min")},
    "EXCEPTION_HANDLER": "billingsite.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    # No OPTIONS metadata (it is not part of the API and crashed on views without a
    # serializer_class): OPTIONS answers 405 like any undeclared method.
    "DEFAULT_METADATA_CLASS": None,
}
# Late usage (invoicing): events rolled up from this many minutes before a draft is due for
# finalization are flagged late (and re-rated on the next invoice); periods re-rated always.
INVOICING_LATE_FLAG_MARGIN_MINUTES = int(os.environ.get("INVOICING_LATE_FLAG_MARGIN_MINUTES", 60))
INVOICING_LATE_USAGE_LOOKBACK_PERIODS = int(
    os.environ.get("INVOICING_LATE_USAGE_LOOKBACK_PERIODS", 0)
)
# Stored Idempotency-Key answers are replayed this long, then pruned (hourly beat task).
API_IDEMPOTENCY_KEY_HOURS = int(os.environ.get("API_IDEMPOTENCY_KEY_HOURS", 24))
SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": (
        "Usage-based billing: ingest usage events, define meters, read usage, price and "
        "invoice. Authenticate with `Authorization: Bearer <api key>`. Every error has the "
        'shape `{"error": {"code", "message", "details"}}`. JSON bodies may nest arrays and '
        "objects at most 32 levels deep (billingsite.strictjson.MAX_DEPTH); `NaN`, `Infinity`, "
        "numbers beyond a double's range and lone UTF-16 surrogates are refused: 400 "
        "`parse_error`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The shared error answers (400/401/403/404/409/413/415/429/503) of every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billingsite.api.schema.add_error_responses",
    ],
}

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = celery_broker_url(REDIS_URL)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every queue a route below names. Declared queues are what a worker started without -Q
# consumes, so a plain `celery -A billingsite worker` does all the work; dedicated workers per
# queue (`-Q rollups`, `-Q billing,stripe`, ...) stay possible (README, "Deploying Tally").
# Each queue gets its own direct exchange and routing key (a bare Queue(name) would be bound to
# the default exchange and routing key, all five alike), so each binding names only its queue.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("default", "rollups", "billing", "stripe", "notifications")
]
# --- Reliability: broker redelivery (issue 14, docs/reliability.md "Redelivery") ----------
# A task message stays unacknowledged in Redis while it runs (acks_late); when the worker dies
# (SIGKILL, OOM, host loss) the message is handed out again once it has been unacknowledged for
# this long (kombu restores it on a worker's periodic check). Keep it above the run time of
# every task that relies on redelivery (rollups, outbox sends, webhook processing and billing
# chunks run well under a minute), or a running task is handed to a second worker. Each
# worker looks for such messages every CELERY_UNACKED_RESTORE_SECONDS (kombu's own default
# looks only every 100 s: a 10 s check interval times a throttle of 10), so a killed task runs
# again within about visibility timeout + restore interval.
CELERY_VISIBILITY_TIMEOUT_SECONDS = int(env("CELERY_VISIBILITY_TIMEOUT_SECONDS", "300"))
CELERY_UNACKED_RESTORE_SECONDS = int(env("CELERY_UNACKED_RESTORE_SECONDS", "10"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    "unacked_restore_interval": CELERY_UNACKED_RESTORE_SECONDS,
    "unacked_restore_throttle": 1,
}
# The outbox's own redelivery: a row whose sender died mid-send is claimed again once its lease
# (this long) has run out; the handler's Stripe call carries the row's idempotency key.
OUTBOX_LEASE_SECONDS = int(env("OUTBOX_LEASE_SECONDS", "300"))
CELERY_TASK_ROUTES = {
    "metering.*": {"queue": "rollups"},
    "invoicing.billing.*": {"queue": "billing"},
    "invoicing.stripe.*": {"queue": "stripe"},
    "billingsite.outbox_*": {"queue": "stripe"},
    "*.notify_*": {"queue": "notifications"},
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "heartbeat": {"task": "billingsite.heartbeat", "schedule": 30.0},
    "idempotency-keys-prune": {"task": "billingsite.idempotency_keys_prune", "schedule": 3600.0},
    # Drafts invoices when periods end, refreshes them in the grace period, then finalizes.
    "invoicing-billing-run": {"task": "invoicing.billing.run", "schedule": 900.0},
    "metering-rollup": {"task": "metering.rollup_run", "schedule": 2.0},
    "metering-attribute": {"task": "metering.events_attribute_sweep", "schedule": 60.0},
    # Safety net for the outbox: each commit kicks the dispatcher; this catches lost kicks,
    # backoff retries coming due and leases of workers that died mid-send.
    "outbox-dispatch": {"task": "billingsite.outbox_dispatch", "schedule": 5.0},
    # Stripe: process webhook events whose kick was lost, poll invoices whose webhook is late,
    # reconcile yesterday every night at 03:15 UTC.
    "invoicing-stripe-webhook-sweep": {"task": "invoicing.stripe.webhook_sweep", "schedule": 60.0},
    "invoicing-stripe-invoices-poll": {"task": "invoicing.stripe.invoices_poll", "schedule": 900.0},
    "invoicing-stripe-reconcile": {
        "task": "invoicing.stripe.reconcile",
        "schedule": crontab(hour=3, minute=15),
    },
    # Disputes: email the assignee 72 h and 24 h before the evidence is due (each once).
    "disputes-reminders": {"task": "disputes.reminders_send", "schedule": 900.0},
    # After the 03:15 reconciliation: a second succeeded payment on a paid invoice is refunded.
    "disputes-duplicates-refund": {
        "task": "disputes.duplicates_refund",
        "schedule": crontab(hour=3, minute=45),
    },
    # Collections (issue 19): retries, reminders, past due and suspension, each step once.
    "invoicing-collections-advance": {
        "task": "invoicing.collections_advance",
        "schedule": 900.0,
    },
    # Every check_invariants check, nightly after reconciliation; results in /metrics and on
    # the admin dashboard (billingsite.invariant_runs). Runs on the default queue.
    "invariants-check": {
        "task": "billingsite.invariants_check",
        "schedule": crontab(hour=4, minute=30),
    },
    # Alerts (issue 17): each rollup kicks the evaluation; this catches lost kicks and leases
    # of workers that died. periods_roll resolves triggers whose billing period ended.
    "alerts-evaluate": {"task": "invoicing.alerts.evaluate", "schedule": 5.0},
    "alerts-periods-roll": {"task": "invoicing.alerts.periods_roll", "schedule": 300.0},
    # Exports (docs/exports.md): new and changed rows of every dataset, nightly, into
    # REPORTING_EXPORT_DIR (does nothing while it is empty). Runs on the default queue.
    "reporting-exports": {
        "task": "reporting.exports_nightly",
        "schedule": crontab(hour=2, minute=30),
    },
    # Revenue recognition (issue 20): post unposted sources and the recognition due up to
    # today, daily after reconciliation (idempotent by unique source keys).
    "revenue-post-pending": {
        "task": "revenue.post_pending",
        "schedule": crontab(hour=4, minute=0),
    },
}

# --- Revenue recognition (issue 20) ---------------------------------------------------------
# The time zone whose calendar days and months the journal uses (entry dates, ratable days,
# the month close). One zone for the whole book, as a finance team closes one calendar.
REVENUE_TIMEZONE = os.environ.get("REVENUE_TIMEZONE", "UTC")

# --- Product settings -----------------------------------------------------------------------
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# How long an API-key lookup is cached in Redis (accounts.api_key_cache); revocation is
# immediate regardless. 0 turns the cache off.
API_KEY_CACHE_SECONDS = int(os.environ.get("API_KEY_CACHE_SECONDS", 60))
REFUND_APPROVAL_THRESHOLD = Decimal(os.environ.get("REFUND_APPROVAL_THRESHOLD", "500.00"))
# Stripe's fee for a dispute, per currency (written off with the amount when a dispute is lost).
DISPUTE_FEES = {"USD": "15.00", "EUR": "15.00", "GBP": "15.00", "default": "15.00"}

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
METERING_ROLLUP_BATCH_EVENTS = int(os.environ.get("METERING_ROLLUP_BATCH_EVENTS", 50_000))
# check_invariants (and the alert rule on tally_rollup_lag_seconds) call the rollup queue
# stalled when a batch has waited longer than this; rollups normally lag a few seconds.
METERING_ROLLUP_STALL_SECONDS = int(os.environ.get("METERING_ROLLUP_STALL_SECONDS", 600))
# --- Alerts (issue 17) ---
# Customers may create their own spend and usage alerts on the usage pages (self-serve budgets).
ALERTS_SELF_SERVE = env_bool("ALERTS_SELF_SERVE", True)
# Customers evaluated per claimed batch, and how long a claimed batch is leased to a worker.
ALERTS_EVALUATION_BATCH = int(os.environ.get("ALERTS_EVALUATION_BATCH", 200))
ALERTS_EVALUATION_LEASE_SECONDS = int(os.environ.get("ALERTS_EVALUATION_LEASE_SECONDS", 120))
# At most this many self-serve alerts per customer.
ALERTS_SELF_SERVE_MAX = int(os.environ.get("ALERTS_SELF_SERVE_MAX", 20))
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
WEBHOOK_REPLAY_MAX_EVENTS = int(os.environ.get("WEBHOOK_REPLAY_MAX_EVENTS", 10_000))
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"].append(  # type: ignore[attr-defined]
    "billingsite.webhooks.schema.add_webhook_payloads"
)

# --- Logging -------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "billingsite.observability.LogContextFilter"}},
    "formatters": {
        "json": {
            "()": "billingsite.observability.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}

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
# Holds past their expiry return to their counter (consume also sweeps a full counter's holds).
CELERY_BEAT_SCHEDULE["entitlements-reservations-expire"] = {
    "task": "invoicing.entitlements.reservations_expire",
    "schedule": 30.0,
}
