"""Django settings for Tally. Everything that differs between machines comes from the environment.

Required: DATABASE_URL, REDIS_URL, SECRET_KEY (``bin/tally`` provides all three for local runs,
starting embedded PostgreSQL and Redis when the URLs are absent).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from kombu import Exchange, Queue

from billingsite.environment import TESTING, env, env_bool, env_list
from billingsite.redis_urls import celery_broker_url, redis_url_with_db, worker_redis_db

BASE_DIR = Path(__file__).resolve().parent.parent

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
# Django's PostgreSQL backend whose health check polls the socket before it sends SELECT 1
# (billingsite/postgres/base.py): broken connections are still replaced, at no round trip.
DATABASES["default"]["ENGINE"] = "billingsite.postgres"
# Behind a transaction-pooling pgbouncer (pool_mode = transaction) a transaction may land on
# another server connection than the last one: nothing may outlive a transaction there, so no
# server-side cursors and no staging table made when the connection opens (ingest makes it in
# each batch's transaction instead, one more round trip per batch).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DATABASE_TRANSACTION_POOLING")
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
# Billing run: due drafts finalized per transaction (1 = one by one).
INVOICING_FINALIZE_BATCH = int(os.environ.get("INVOICING_FINALIZE_BATCH", 250))
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
    # Two choice sets share a field name: each gets its own component name.
    "ENUM_NAME_OVERRIDES": {
        "GrantKindEnum": "invoicing.models.credits.GrantKind",
        "EntitlementDenialReasonEnum": [
            "limit_reached",
            "suspended",
            "past_due",
            "feature_disabled",
            "unknown_feature",
            "spend_cap",
        ],
    },
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
    # Usage-event partitions months ahead, DEFAULT emptied, expired dedup keys pruned.
    "metering-partitions": {
        "task": "metering.events_partitions_maintain",
        "schedule": crontab(hour=2, minute=40),
    },
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

# Holds past their expiry return to their counter (consume also sweeps a full counter's holds).
CELERY_BEAT_SCHEDULE["entitlements-reservations-expire"] = {
    "task": "invoicing.entitlements.reservations_expire",
    "schedule": 30.0,
}

# The product's own settings (API keys, refunds, Stripe, ingest limits, attempt limits and one
# block per feature), kept in their own module.
from billingsite.settings_product import *  # noqa: E402, F403
