"""Settings for the stockscanner ops portal.

Everything that differs between a laptop and production comes from the environment
(see README, "Production"). With nothing set, the portal runs on its embedded
default: SQLite and the local-memory cache.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.csp import CSP

from portal.environment import (
    duration_seconds,
    env_bool,
    env_choice,
    env_duration,
    env_emails,
    env_instance_name,
    env_list,
    env_listener,
    env_networks,
    env_number,
    env_port,
    env_rates,
    env_size,
    env_url,
    local_secret,
)
from portal.logs import FORMATTERS

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_STATE_DIR = BASE_DIR / ".local"  # ignored by git: generated secrets, SQLite file

DEBUG = env_bool("DEBUG", default=False)
# One key for every instance, from the environment: a key generated per instance would sign
# sessions that the other instances reject. Only development generates its own. With DEBUG
# off and no key, the portal does not serve (portal/serving.py), and Django refuses any other
# use of the empty key; commands that sign nothing (migrate, makemigrations, check) still run.
SECRET_KEY = os.environ.get("SECRET_KEY") or (local_secret(LOCAL_STATE_DIR / "secret-key") if DEBUG else "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PORTAL_BEHIND_PROXY = env_bool("PORTAL_BEHIND_PROXY")
if PORTAL_BEHIND_PROXY:
    # Only safe when a proxy we control sets this header and strips the client's.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# HTTPS deployments: one switch, on by default behind our proxy (which terminates TLS). It
# redirects plain HTTP (not the probes: load balancers probe over plain HTTP), marks the
# cookies Secure, and sends HSTS: browsers then refuse plain HTTP to this host for
# PORTAL_HSTS_SECONDS. Preloading is a promise to browser vendors that is slow to take back:
# off unless asked for.
PORTAL_HTTPS = env_bool("PORTAL_HTTPS", default=PORTAL_BEHIND_PROXY)
if PORTAL_HTTPS:
    SECURE_SSL_REDIRECT = True
    # Prometheus scrapes each instance on its own address, past the TLS proxy, as load balancers probe.
    SECURE_REDIRECT_EXEMPT = [r"^health/live/$", r"^health/ready/$", r"^metrics$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_number("PORTAL_HSTS_SECONDS", 365 * 24 * 3600, int)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PORTAL_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("PORTAL_HSTS_PRELOAD", default=False)

# What pages may load and do. unfold's pages run inline scripts and Alpine.js, which evaluates
# its attributes as code: script-src needs 'unsafe-inline' and 'unsafe-eval'. That is accepted
# here, once for every deployment (the security checklist shows it as a note, with why): the
# policy still keeps out every script, style and frame from elsewhere, plugins and <base>.
SILENCED_SYSTEM_CHECKS = ["opsadmin.security.W106"]
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.UNSAFE_INLINE, CSP.UNSAFE_EVAL],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Browser features no page of the portal uses, refused to every page and anything it embeds.
PERMISSIONS_POLICY = {
    feature: [] for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial", "display-capture")
}

# Logging: every record on stderr, one line each below ERROR, tracebacks for errors (a 500's
# included, which Django alone would only mail); probes are not logged per request; a line per
# request with its id (portal/logs.py, portal/request_log.py). JSON in production, a line for
# people on the development default; PORTAL_LOG_FILE adds a rotated file, for hosts without a collector.
PORTAL_LOG_LEVEL = env_choice("PORTAL_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
PORTAL_LOG_FORMAT = env_choice("PORTAL_LOG_FORMAT", "CONSOLE" if DEBUG else "JSON", ("JSON", "CONSOLE")).lower()
PORTAL_LOG_FILE = os.environ.get("PORTAL_LOG_FILE", "").strip()
PORTAL_LOG_FILE_MAX_BYTES = env_size("PORTAL_LOG_FILE_MAX_BYTES", 100 * 1024**2)
PORTAL_LOG_FILE_BACKUP_COUNT = env_number("PORTAL_LOG_FILE_BACKUP_COUNT", 5, int)
LOGGING_CONFIG = "portal.logs.configure"
_log_handler = {"formatter": PORTAL_LOG_FORMAT, "filters": ["skip_probes", "skip_served_lines", "request_context"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "skip_probes": {"()": "portal.logs.SkipProbeRequests"},
        "skip_served_lines": {"()": "portal.logs.SkipServedLines"},  # runserver's: the request line says more
        "request_context": {"()": "portal.logs.RequestContext"},
    },
    "formatters": FORMATTERS,
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", **_log_handler},
        **(
            {
                # Rotated by size here; MAX_BYTES=0: by logrotate (the file is reopened once it was moved).
                "file": {
                    "class": "logging.handlers.RotatingFileHandler",
                    "maxBytes": PORTAL_LOG_FILE_MAX_BYTES,
                    "backupCount": PORTAL_LOG_FILE_BACKUP_COUNT,
                    "filename": PORTAL_LOG_FILE,
                    "encoding": "utf-8",
                    **_log_handler,
                }
                if PORTAL_LOG_FILE_MAX_BYTES
                else {
                    "class": "logging.handlers.WatchedFileHandler",
                    "filename": PORTAL_LOG_FILE,
                    "encoding": "utf-8",
                    **_log_handler,
                }
            }
            if PORTAL_LOG_FILE
            else {}
        ),
    },
    "root": {"handlers": ["stderr", "file"] if PORTAL_LOG_FILE else ["stderr"], "level": PORTAL_LOG_LEVEL},
    # Django's own loggers go to the same place (its default sends to the console only with DEBUG on).
    "loggers": {"django": {"handlers": [], "level": PORTAL_LOG_LEVEL}},
}

INSTALLED_APPS = [
    # unfold must come before the admin so its templates win.
    "unfold.apps.BasicAppConfig",
    "opsadmin.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "health_check",
    "django_tasks_db",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "ninja",  # the scanner API's browsable docs, from its own static files (no CDN)
    "portal.accounts",
    "stocks",
    "opsadmin.apps.OpsAdminConfig",
]

MIDDLEWARE = [
    "opsadmin.health.views.HealthProbeMiddleware",  # first: probes skip all other middleware
    "portal.request_log.RequestLogMiddleware",  # a line per request, with its id (X-Request-ID), time and queries
    "opsadmin.runtime.metrics.requests.RequestMetricsMiddleware",  # every request but the probes, for /metrics
    "opsadmin.runtime.memory_limits.MemoryLimitMiddleware",  # counts requests, acts on the memory limits
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.compression.CompressionMiddleware",  # the scanner API's JSON, once every middleware below has written it
    "opsadmin.runtime.heartbeat.HeartbeatMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): a second factor given this session
    "opsadmin.admin.second_factor_gate.SecondFactorGate",  # who must give one goes no further without it
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # a login refused by the lockout answers with its page (429)
    "portal.errors.UnavailableMiddleware",  # last: a view needing a dependency that is out answers 503
]

# The scanner API's JSON from this size is compressed (gzip or brotli, as the client accepts; never the admin's
# pages or the ops API: README, "Compression and BREACH"). A smaller body fits one TCP segment either way.
PORTAL_COMPRESS_MIN_BYTES = env_number("PORTAL_COMPRESS_MIN_BYTES", 1024, int)

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # The project's, then each capability's own (opsadmin/operations/<name>/templates/), then the apps'.
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    [
                        "django.template.loaders.filesystem.Loader",
                        "opsadmin.spine.templates.CapabilityTemplatesLoader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://user:pass@host:port/name) or the embedded SQLite file.
# SQLite, the embedded file or one DATABASE_URL names, takes its write lock when a transaction begins and waits
# 20 s for it: with the task worker and the web process writing at once, a deferred transaction would fail at
# its first write with "database is locked" instead of waiting its turn.
SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# PgBouncer in transaction mode (docs/deployment.md#pgbouncer): DATABASE_URL names the pooler,
# DATABASE_TRANSACTION_POOLING says so, and DATABASE_DIRECT_URL names the server itself, for the work that
# needs a session of its own (the `direct` alias: opsadmin/runtime/postgresql/pooling.py).
DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING")
DATABASE_DIRECT_URL = os.environ.get("DATABASE_DIRECT_URL", "").strip()


def database(url, conn_max_age):
    """One alias's settings from its URL: PostgreSQL through the portal's engine, SQLite with its write lock."""
    config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Django's engine behind the `database` circuit breaker, within deadlines (opsadmin/runtime/postgresql/);
        # PORTAL_DATABASE_GUARD=0 keeps Django's own, for comparison only (bench/resilience.py).
        if env_bool("PORTAL_DATABASE_GUARD", default=True):
            config["ENGINE"] = "opsadmin.runtime.postgresql"
        # One connect try's timeout, and TCP keepalives: a server whose host is gone is noticed within a minute.
        config["OPTIONS"] = {
            "connect_timeout": 5,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            **config.get("OPTIONS", {}),
        }
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


if DATABASE_URL:
    DATABASES = {"default": database(DATABASE_URL, env_number("DATABASE_CONN_MAX_AGE", 60, int))}
    if DATABASE_TRANSACTION_POOLING:
        if not DATABASE_DIRECT_URL:
            raise ImproperlyConfigured("DATABASE_TRANSACTION_POOLING needs DATABASE_DIRECT_URL (the server itself)")
        # The engine sends no startup `options` (the role's settings give the server's timeouts), and a
        # QuerySet.iterator() fetches in one transaction what a server-side cursor would across several.
        DATABASES["default"] |= {"TRANSACTION_POOLING": True, "DISABLE_SERVER_SIDE_CURSORS": True}
    if DATABASE_DIRECT_URL:
        # Opened only for session work, and closed after it; the test run uses the default's test database.
        DATABASES["direct"] = database(DATABASE_DIRECT_URL, 0) | {"TEST": {"MIRROR": "default"}}
else:
    LOCAL_STATE_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": LOCAL_STATE_DIR / "db.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# PostgreSQL's budgets by process kind (opsadmin/runtime/postgresql/budgets.py; SQLite needs none).
# Web processes (portal.wsgi: runserver, gunicorn): a statement_timeout under 10 s, and above
# PORTAL_INDEX_LOCK_TIMEOUT, or the Database page's catalog reads, which wait that long for a lock,
# fail on the statement timeout instead of naming the lock in their way; and a connect that
# answers within a second on a refused or hung server. The task worker and the commands: long ones
# (index builds raise their own session's to PORTAL_INDEX_STATEMENT_TIMEOUT). A connect is tried
# `connect_attempts` times, pausing `first_retry` s then doubling, with jitter, all within
# `connect_seconds`. The client waits for a statement its statement_timeout plus
# PORTAL_DB_DEADLINE_GRACE seconds (a hung server never cancels it), and no limit for "0".
PORTAL_DB_BUDGETS = {
    "web": {
        "statement_timeout": env_duration("PORTAL_DB_STATEMENT_TIMEOUT", "8s"),
        "connect_attempts": env_number("PORTAL_DB_CONNECT_ATTEMPTS", 3, int),
        "connect_seconds": env_number("PORTAL_DB_CONNECT_SECONDS", 0.8),
        "first_retry": 0.05,
    },
    "command": {
        "statement_timeout": env_duration("PORTAL_DB_COMMAND_STATEMENT_TIMEOUT", "30min"),
        "connect_attempts": env_number("PORTAL_DB_COMMAND_CONNECT_ATTEMPTS", 5, int),
        "connect_seconds": env_number("PORTAL_DB_COMMAND_CONNECT_SECONDS", 15.0),
        "first_retry": 0.25,
    },
}
PORTAL_DB_DEADLINE_GRACE = env_number("PORTAL_DB_DEADLINE_GRACE", 1.0)

# Caches: REDIS_URL (redis://host:port/db) or the process-local memory cache. Each alias
# has its own key prefix, so clearing one never touches another sharing the Redis
# database; PORTAL_CACHE_PURPOSES says what each holds (shown on the Caches page).
REDIS_URL = os.environ.get("REDIS_URL", "")
PORTAL_CACHE_PURPOSES = {
    "default": "Scanner results: stock snapshots, screens and lists",
    "ratelimit": "Rate-limit counters of the scanner API",
}
CACHE_KEY_PREFIXES = {"default": "scanner", "ratelimit": "ratelimit"}
# Other components keeping state in a cache's Redis database ({name: alias or Redis URL}),
# listed before a flush.
PORTAL_REDIS_SHARED_COMPONENTS = {"circuit breakers": REDIS_URL} if REDIS_URL else {}
# Counting an alias's keys: SCAN them all up to this database size, else estimate from a sample.
PORTAL_CACHE_COUNT_SCAN_LIMIT = env_number("PORTAL_CACHE_COUNT_SCAN_LIMIT", 200_000, int)
PORTAL_CACHE_COUNT_SAMPLE = env_number("PORTAL_CACHE_COUNT_SAMPLE", 2000, int)
PORTAL_STOCK_CACHE_SECONDS = env_number("PORTAL_STOCK_CACHE_SECONDS", 60, int)
# A screen page's tickers stay cached this long; its rows are the stocks' snapshots (stocks/cached.py).
PORTAL_SCREEN_CACHE_SECONDS = env_number("PORTAL_SCREEN_CACHE_SECONDS", 30, int)
# A Redis cache call waits this long at most (seconds, connecting and reading): a hung Redis must not
# hang the requests that use it. Its reads and writes go through the `cache` circuit breaker
# (opsadmin/runtime/guarded_cache.py): misses and dropped writes while Redis is out.
PORTAL_CACHE_SOCKET_TIMEOUT = env_number("PORTAL_CACHE_SOCKET_TIMEOUT", 0.25)
if REDIS_URL:
    CACHES = {
        alias: {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
            "OPTIONS": {
                "CLIENT_CLASS": "opsadmin.runtime.guarded_cache.GuardedClient",
                "SOCKET_CONNECT_TIMEOUT": PORTAL_CACHE_SOCKET_TIMEOUT,
                "SOCKET_TIMEOUT": PORTAL_CACHE_SOCKET_TIMEOUT,
            },
        }
        for alias, prefix in CACHE_KEY_PREFIXES.items()
    }
else:
    CACHES = {
        alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": alias, "KEY_PREFIX": prefix}
        for alias, prefix in CACHE_KEY_PREFIXES.items()
    }

# Circuit breakers (opsadmin/runtime/breakers/): after `fail_max` failures in a row a dependency is
# not called for `reset_timeout` seconds (requests fail at once, 503 with Retry-After), then one
# trial call decides. `failures` says which errors count. State is shared through Redis when
# REDIS_URL is set (read at most every PORTAL_BREAKER_SYNC_SECONDS), else kept per process; a
# process whose Redis does not answer within PORTAL_BREAKER_REDIS_TIMEOUT keeps its own for
# PORTAL_BREAKER_REDIS_RETRY_SECONDS. Wrap any other outbound call in `breakers.guard("name")`
# after declaring it here. Each has a health check, breaker:<name>, failing while it is open; it
# fails readiness for a `critical` one, and only degrades it for the others.
PORTAL_BREAKERS = {
    "database": {
        "purpose": "The default database: connections refused, reset or timed out, a server gone or hung",
        "fail_max": env_number("PORTAL_BREAKER_DATABASE_FAIL_MAX", 5, int),
        "reset_timeout": env_number("PORTAL_BREAKER_DATABASE_RESET_SECONDS", 10.0),
        "failures": "opsadmin.runtime.outages.database_outage",
        "critical": True,
    },
    "cache": {
        "purpose": "The Redis cache: reads answer as misses and writes are dropped while it is open",
        "fail_max": env_number("PORTAL_BREAKER_CACHE_FAIL_MAX", 3, int),
        "reset_timeout": env_number("PORTAL_BREAKER_CACHE_RESET_SECONDS", 10.0),
        "failures": "opsadmin.runtime.outages.redis_outage",
    },
}
PORTAL_BREAKER_SYNC_SECONDS = env_number("PORTAL_BREAKER_SYNC_SECONDS", 0.5)
PORTAL_BREAKER_REDIS_TIMEOUT = env_number("PORTAL_BREAKER_REDIS_TIMEOUT", 0.25)
PORTAL_BREAKER_REDIS_RETRY_SECONDS = env_number("PORTAL_BREAKER_REDIS_RETRY_SECONDS", 5.0)
PORTAL_BREAKER_HISTORY = 50  # changes of state kept per breaker

# Rate limits of the scanner API (stocks/rate_limits.py): requests a minute and a day per membership tier,
# counted per caller (a user, or an anonymous client's address) in PORTAL_RATE_LIMIT_STORAGE, a `limits`
# storage URL: the Redis of REDIS_URL by default, shared by every process and instance, under the
# `ratelimit` alias's keys (the Caches page counts them; clearing that alias resets every counter); else
# memory://, which each process keeps for itself (limits then hold per process). A tier's limits change with
# PORTAL_RATE_LIMIT_<TIER>="<n>/minute,<n>/day". A storage that does not answer within
# PORTAL_RATE_LIMIT_SOCKET_TIMEOUT seconds is skipped for PORTAL_RATE_LIMIT_RETRY_SECONDS, and meanwhile
# requests are admitted uncounted (PORTAL_RATE_LIMIT_FAIL_OPEN, on by default; off: refused with 503).
PORTAL_RATE_LIMITS = {
    tier: env_rates(f"PORTAL_RATE_LIMIT_{tier.upper()}", default)
    for tier, default in {
        "anonymous": "20/minute,500/day",
        "free": "60/minute,5000/day",
        "basic": "300/minute,50000/day",
        "pro": "1200/minute,500000/day",
        "enterprise": "6000/minute,5000000/day",
    }.items()
}
PORTAL_RATE_LIMIT_STORAGE = os.environ.get("PORTAL_RATE_LIMIT_STORAGE", "").strip() or REDIS_URL or "memory://"
if urlsplit(PORTAL_RATE_LIMIT_STORAGE).scheme not in ("redis", "rediss", "redis+unix", "memory"):
    raise ValueError(
        f"PORTAL_RATE_LIMIT_STORAGE: {urlsplit(PORTAL_RATE_LIMIT_STORAGE).scheme or 'no'} scheme: use "
        "redis://host:port/db, rediss://, redis+unix:///path or memory://"
    )
PORTAL_RATE_LIMIT_KEY_PREFIX = f"{CACHE_KEY_PREFIXES['ratelimit']}:1"  # <KEY_PREFIX>:<VERSION> of that alias
PORTAL_RATE_LIMIT_FAIL_OPEN = env_bool("PORTAL_RATE_LIMIT_FAIL_OPEN", default=True)
PORTAL_RATE_LIMIT_SOCKET_TIMEOUT = env_number("PORTAL_RATE_LIMIT_SOCKET_TIMEOUT", 0.25)
PORTAL_RATE_LIMIT_RETRY_SECONDS = env_number("PORTAL_RATE_LIMIT_RETRY_SECONDS", 5.0)

# Prometheus metrics at /metrics (opsadmin/api/metrics.py): for a staff session or an ops token with view_ops,
# or for a scraper without credentials from one of these networks (CIDRs or addresses, comma-separated; the
# address is the client's as the login lockout sees it, behind our proxy the one it appended). Default: none.
PORTAL_METRICS_ALLOWED_ADDRESSES = env_networks("PORTAL_METRICS_ALLOWED_ADDRESSES")

# Where gunicorn's workers write their metrics (portal/gunicorn.conf.py). Set, the task worker on the same host reads
# the request metrics from it for the in-app alerts; unset, each gunicorn makes its own and the alerts on request
# figures say they are not evaluated.
PORTAL_METRICS_DIR = os.environ.get("PORTAL_METRICS_DIR", "").strip()

# In-app alerts (opsadmin/operations/alerts/), for sites without Alertmanager: the same events as the Prometheus
# rules, evaluated by the task worker every PORTAL_ALERTS_EVALUATE_SECONDS; a message when an incident opens, one
# when it resolves, and a reminder every PORTAL_ALERTS_REMINDER_MINUTES while it is open and neither acknowledged
# nor silenced. Sent by email (Django's mail settings below) to PORTAL_ALERTS_EMAIL_TO and/or as JSON POSTed to
# PORTAL_ALERTS_WEBHOOK_URL; with neither, incidents are only listed on the Alerts page.
PORTAL_ALERTS_EVALUATE_SECONDS = env_number("PORTAL_ALERTS_EVALUATE_SECONDS", 30.0)
PORTAL_ALERTS_REMINDER_MINUTES = env_number("PORTAL_ALERTS_REMINDER_MINUTES", 60.0)
PORTAL_ALERTS_EMAIL_TO = env_emails("PORTAL_ALERTS_EMAIL_TO")
PORTAL_ALERTS_WEBHOOK_URL = env_url("PORTAL_ALERTS_WEBHOOK_URL")
PORTAL_ALERTS_WEBHOOK_TIMEOUT = env_number("PORTAL_ALERTS_WEBHOOK_TIMEOUT", 5.0)
PORTAL_ALERTS_DELIVERY_ATTEMPTS = env_number("PORTAL_ALERTS_DELIVERY_ATTEMPTS", 10, int)
# Thresholds: 5xx answers among requests, the 95th percentile of request time, rate-limit refusals a minute
# (each over the time between two evaluations), and how long an ops run's failure keeps its alert open.
PORTAL_ALERTS_ERROR_RATE_PERCENT = env_number("PORTAL_ALERTS_ERROR_RATE_PERCENT", 5.0)
PORTAL_ALERTS_LATENCY_P95_SECONDS = env_number("PORTAL_ALERTS_LATENCY_P95_SECONDS", 1.0)
PORTAL_ALERTS_REJECTIONS_PER_MINUTE = env_number("PORTAL_ALERTS_REJECTIONS_PER_MINUTE", 60.0)
PORTAL_ALERTS_FAILED_RUN_MINUTES = env_number("PORTAL_ALERTS_FAILED_RUN_MINUTES", 15.0)
for _name in (
    "PORTAL_ALERTS_EVALUATE_SECONDS",
    "PORTAL_ALERTS_REMINDER_MINUTES",
    "PORTAL_ALERTS_WEBHOOK_TIMEOUT",
    "PORTAL_ALERTS_DELIVERY_ATTEMPTS",
    "PORTAL_ALERTS_LATENCY_P95_SECONDS",
    "PORTAL_ALERTS_REJECTIONS_PER_MINUTE",
    "PORTAL_ALERTS_FAILED_RUN_MINUTES",
):
    if not globals()[_name] > 0:
        raise ValueError(f"{_name} must be above 0")
if not 0 < PORTAL_ALERTS_ERROR_RATE_PERCENT <= 100:
    raise ValueError("PORTAL_ALERTS_ERROR_RATE_PERCENT must be a percentage above 0, at most 100")
# Mail, for the alerts' email: Django's mailer (Django 6.1's MAILERS) on an SMTP server from the environment, under
# the names Django's old settings had: EMAIL_HOST (default localhost), EMAIL_PORT (default 25, 587 with
# EMAIL_USE_TLS, 465 with EMAIL_USE_SSL), EMAIL_HOST_USER, EMAIL_HOST_PASSWORD; DEFAULT_FROM_EMAIL is the sender.
_use_tls, _use_ssl = env_bool("EMAIL_USE_TLS"), env_bool("EMAIL_USE_SSL")
if _use_tls and _use_ssl:
    raise ValueError("EMAIL_USE_TLS and EMAIL_USE_SSL: set one at most (STARTTLS, or TLS from the start)")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ.get("EMAIL_HOST", "").strip() or "localhost",
            "port": env_number("EMAIL_PORT", 465 if _use_ssl else 587 if _use_tls else 25, int),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": _use_tls,
            "use_ssl": _use_ssl,
            "timeout": env_number("EMAIL_TIMEOUT", 10.0),  # a hung SMTP server holds the evaluator no longer
        },
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "portal@localhost"  # "Ops <ops@x>" too
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Sessions live in the database, never in a cache that an operator may clear. Messages go
# there too, not in a cookie: a new API token is shown once in a message.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Sessions last a working day at most, counted from the login (not renewed by each request),
# and survive closing the browser only within that day. Logging out deletes the session row; a
# password change ends the user's other sessions (Django's session auth hash).
SESSION_COOKIE_AGE = 24 * 3600
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Login lockout (django-axes): PORTAL_LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# address lock that pair out for PORTAL_LOGIN_LOCKOUT: a 429 page, the right password refused too,
# until it passes or an admin resets it (Access → Access attempts; audited). Another address, or
# another username, is not locked. The address is REMOTE_ADDR, or behind our proxy the one it
# appended to X-Forwarded-For (portal/accounts/addresses.py): a client's own header is never trusted.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_number("PORTAL_LOGIN_FAILURE_LIMIT", 5, int)
AXES_COOLOFF_TIME = timedelta(seconds=duration_seconds(env_duration("PORTAL_LOGIN_LOCKOUT", "15min")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "portal.accounts.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "portal.accounts.lockout.locked_out"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failed login, kept for the admin (Access → Access failures)
AXES_VERBOSE = False  # no banner on every process's start (it would open every command's output)
AXES_ENABLE_ADMIN = False  # the ops site registers axes' models itself, with unfold's look (opsadmin/admin/access.py)

# Second factors (django-otp): with PORTAL_OTP_REQUIRED on, whoever holds an ops write permission
# (superusers hold them all) gives a TOTP or recovery code after the password before any admin page
# or session API call works; they enrol from the admin (Access → Second factor). On unless DEBUG:
# production asks for it, a laptop doesn't. API tokens never need one: they are a second credential.
PORTAL_OTP_REQUIRED = env_bool("PORTAL_OTP_REQUIRED", default=not DEBUG)
PORTAL_RECOVERY_CODES = 10  # single-use codes made at enrolment, shown once
OTP_TOTP_ISSUER = "Stockscanner ops"  # the name authenticator apps show
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # nobody reads another's secret or recovery codes in the admin

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Refuses nothing: told of every password change, it revokes that user's ops API tokens.
    {"NAME": "portal.accounts.tokens.EndOpsTokensOnPasswordChange"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")  # collectstatic's output
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files in production (needs collectstatic); plain in DEBUG.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Instances: each process beats this often; drain state is re-read this often; an instance
# not seen for this long is gone.
PORTAL_HEARTBEAT_SECONDS = 5
# Which instance this is, from configuration only (never a request's Host header):
# "<PORTAL_INSTANCE_ID, else the host name>:<PORTAL_BIND's port, or its unix socket's file name>".
PORTAL_INSTANCE_ID = env_instance_name("PORTAL_INSTANCE_ID")
PORTAL_INSTANCE_LISTENER = env_listener("PORTAL_BIND", "127.0.0.1:8000")
PORTAL_DRAIN_CACHE_SECONDS = env_number("PORTAL_DRAIN_CACHE_SECONDS", 2.0)
PORTAL_INSTANCE_GONE_SECONDS = 60
# The command channel: each process looks for work sent to it this often, and a process
# that has not answered this long after a run was sent is reported as not answering.
PORTAL_COMMAND_POLL_SECONDS = env_number("PORTAL_COMMAND_POLL_SECONDS", 1.0)
PORTAL_COMMAND_TIMEOUT_SECONDS = env_number("PORTAL_COMMAND_TIMEOUT_SECONDS", 30.0)

# Memory: each worker's RSS is read every PORTAL_MEMORY_SAMPLE_EVERY requests; above the soft limit
# it runs a full garbage collection, above the hard limit it exits once its requests are answered and
# gunicorn starts a fresh one (sizes in bytes or "512MB"; unset: off). Each worker's RSS at each beat
# is kept this long for the Memory page's chart.
PORTAL_MEMORY_SOFT_LIMIT = env_size("PORTAL_MEMORY_SOFT_LIMIT")
PORTAL_MEMORY_HARD_LIMIT = env_size("PORTAL_MEMORY_HARD_LIMIT")
PORTAL_MEMORY_SAMPLE_EVERY = env_number("PORTAL_MEMORY_SAMPLE_EVERY", 50, int)
PORTAL_MEMORY_HISTORY_SECONDS = env_number("PORTAL_MEMORY_HISTORY_SECONDS", 3600, int)

# The ops capabilities, each a package declaring itself in its `capability` module, in the
# order the sidebar, the dashboard and `system_status` show them. Adding one is one line here.
PORTAL_CAPABILITIES = [
    "opsadmin.operations.health",
    "opsadmin.operations.instances",
    "opsadmin.operations.breakers",
    "opsadmin.operations.memory",
    "opsadmin.operations.database",
    "opsadmin.operations.database_risks",
    "opsadmin.operations.activity",
    "opsadmin.operations.caches",
    "opsadmin.operations.runs",
    "opsadmin.operations.security",
    "opsadmin.operations.rate_limits",
    "opsadmin.operations.alerts",
]
# The largest JSON body the ops API reads (bytes); a larger one is answered 413.
PORTAL_API_MAX_BODY_BYTES = 1024 * 1024

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

# Index builds (optimize_database): how long to wait for a table lock, and for one statement. The
# Database page's catalog reads wait for a table lock no longer than the lock timeout either.
PORTAL_INDEX_LOCK_TIMEOUT = env_duration("PORTAL_INDEX_LOCK_TIMEOUT", "5s")
# The dashboard, the status API and system_status read every capability's status in turn: each of
# their catalog reads waits this long for a table lock, so a held lock costs them seconds, not tens.
PORTAL_STATUS_LOCK_TIMEOUT = env_duration("PORTAL_STATUS_LOCK_TIMEOUT", "1s")
PORTAL_INDEX_STATEMENT_TIMEOUT = env_duration("PORTAL_INDEX_STATEMENT_TIMEOUT", "30min")
# Index advice: slow queries (pg_stat_statements) are those called this often at this mean time;
# suggestions are tested on them with hypopg.
PORTAL_SLOW_QUERY_MIN_CALLS = env_number("PORTAL_SLOW_QUERY_MIN_CALLS", 50, int)
PORTAL_SLOW_QUERY_MIN_MEAN_MS = env_number("PORTAL_SLOW_QUERY_MIN_MEAN_MS", 20.0)
# Index advice: an index with no scans is reported as unused only from this size up, and only once
# its scan counter has run this many days (since the statistics were reset, or the index was built):
# a week lets a weekly job's index show it is used.
PORTAL_UNUSED_INDEX_MIN_BYTES = env_number("PORTAL_UNUSED_INDEX_MIN_BYTES", 10 * 1024 * 1024, int)
PORTAL_UNUSED_INDEX_MIN_DAYS = env_number("PORTAL_UNUSED_INDEX_MIN_DAYS", 7.0)
# Index advice: a table "may be missing an index" (PgHero's rule) only after this many sequential
# scans: a few reads of a table (a report, a one-off script) are no workload to build an index for.
PORTAL_SEQ_SCAN_MIN_SCANS = env_number("PORTAL_SEQ_SCAN_MIN_SCANS", 100, int)
# Growth history (Database page): the task worker samples table and index sizes daily and pg_stat_statements
# hourly; samples older than this many days are pruned at each capture.
PORTAL_DATABASE_HISTORY_DAYS = env_number("PORTAL_DATABASE_HISTORY_DAYS", 30, int)
# The slow dangers (Database -> Wraparound, sequences and bloat), each a health warning past its line:
# - a database's or table's oldest xid (multixact) past this percent of autovacuum_freeze_max_age
#   (autovacuum_multixact_freeze_max_age): at 100 % autovacuum's anti-wraparound VACUUM is due, so
#   above it that VACUUM is late or failing (PgHero warns later, at 1.5 billion xids left);
PORTAL_WRAPAROUND_WARN_PERCENT = env_number("PORTAL_WRAPAROUND_WARN_PERCENT", 100.0)
# - a sequence past this percent of its limit (its maximum, or its column type's; PgHero's 90 %);
PORTAL_SEQUENCE_WARN_PERCENT = env_number("PORTAL_SEQUENCE_WARN_PERCENT", 90.0)
# - a table or index whose estimated waste is at least this size (PgHero's 100 MB) and this percent;
PORTAL_BLOAT_MIN_BYTES = env_size("PORTAL_BLOAT_MIN_BYTES", 100 * 1024 * 1024)
PORTAL_BLOAT_MIN_PERCENT = env_number("PORTAL_BLOAT_MIN_PERCENT", 30.0)
# - a table whose dead rows are this percent of its rows (autovacuum's own trigger, at its default
#   scale factor of 0.2, is 20 %: above it autovacuum is behind on that table).
PORTAL_DEAD_ROWS_WARN_PERCENT = env_number("PORTAL_DEAD_ROWS_WARN_PERCENT", 20.0)
# The database machine's memory (a size), for the settings advice; SQL can't tell it. Unset: this
# machine's when the database is on localhost, else unknown.
PORTAL_DATABASE_MEMORY = env_size("PORTAL_DATABASE_MEMORY")
# Live queries (PostgreSQL): a query running this long, and a transaction idle this long, are highlighted (and make
# the status a warning); client connections at this share of max_connections make it a warning.
PORTAL_ACTIVITY_LONG_QUERY_SECONDS = env_number("PORTAL_ACTIVITY_LONG_QUERY_SECONDS", 60.0)
PORTAL_ACTIVITY_IDLE_IN_TRANSACTION_SECONDS = env_number("PORTAL_ACTIVITY_IDLE_IN_TRANSACTION_SECONDS", 30.0)
PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT = env_number("PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT", 80.0)
if not 0 < PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT <= 100:
    raise ValueError("PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT must be a percentage above 0, at most 100")

# Long operations run on Django's tasks framework, queued in the database so the
# same worker (`manage.py ops_worker`, django-tasks-db's worker with a heartbeat) serves SQLite and PostgreSQL alike.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Seconds a stopping task worker (SIGTERM) gives the task in hand before putting it back in the queue.
PORTAL_TASK_STOP_SECONDS = env_number("PORTAL_TASK_STOP_SECONDS", 25.0)

UNFOLD = {
    "SITE_TITLE": "Stockscanner ops",
    "SITE_HEADER": "Stockscanner ops",
    "SITE_SYMBOL": "monitoring",
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("opsadmin/favicon.svg")},
    ],
    "DASHBOARD_CALLBACK": "opsadmin.admin.dashboard.dashboard_callback",
    "STYLES": [lambda request: static("opsadmin/ops.css")],
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "opsadmin.admin.navigation.sidebar",
    },
}

# Health checks ----------------------------------------------------------------------
# The platform's checks behind /health/ready/ (load balancers), /health/ (staff: every
# check with status, message and timing) and `manage.py health_check health_ready`;
# capabilities add their own after these (the database's "indexes").
# Each entry: (name shown in the JSON, check class, its arguments, critical?).
# A failing critical check makes readiness 503 "unavailable"; a failing non-critical one
# keeps 200 with "degraded". Warnings (disk or memory nearly full, no task worker seen)
# show in /health/ only and never fail readiness. Redis is not critical by default:
# every instance shares it, and the portal answers from the database without it.
# PORTAL_CRITICAL_CHECKS=redis,cache:default makes more checks critical (names as below).
# The machine's memory use (percent) at which the "memory" check warns and the Memory page's status
# turns to warning; at 98 % it is failing there (opsadmin.operations.memory.sections).
PORTAL_MEMORY_WARN_PERCENT = env_number("PORTAL_MEMORY_WARN_PERCENT", 90.0)
if not 0 < PORTAL_MEMORY_WARN_PERCENT <= 100:
    raise ValueError("PORTAL_MEMORY_WARN_PERCENT must be a percentage above 0, at most 100")
PORTAL_HEALTH_CHECKS = [
    ("database", "opsadmin.health.checks.Database", {"alias": "default"}, True),
    ("migrations", "opsadmin.health.checks.Migrations", {"alias": "default"}, True),
    ("draining", "opsadmin.health.checks.Draining", {}, True),
    *((f"cache:{alias}", "opsadmin.health.checks.Cache", {"alias": alias}, False) for alias in CACHES),
    *(
        [("redis", "opsadmin.health.checks.Redis", {"url": REDIS_URL, "socket_timeout": 0.5}, False)]
        if REDIS_URL
        else []
    ),
    ("disk", "health_check.contrib.psutil.Disk", {"path": str(BASE_DIR), "max_disk_usage_percent": 90}, False),
    ("memory", "health_check.contrib.psutil.Memory", {"max_memory_usage_percent": PORTAL_MEMORY_WARN_PERCENT}, False),
    ("task_worker", "opsadmin.health.checks.TaskWorker", {"max_age_seconds": 60}, False),
]
PORTAL_CRITICAL_CHECKS = env_list("PORTAL_CRITICAL_CHECKS")
# Under gunicorn the probes have a listener of their own, served by threads of their own
# (portal/gunicorn.conf.py sets PORTAL_PROBE_BIND): its port answers the two probe paths only.
PORTAL_PROBE_PORT = env_port("PORTAL_PROBE_BIND")
# Seconds: each check's budget; the whole readiness answer's (under 1 s, whatever a
# dependency does); and how long a readiness verdict is reused by this process.
PORTAL_HEALTH_CHECK_TIMEOUT = env_number("PORTAL_HEALTH_CHECK_TIMEOUT", 0.5)
PORTAL_READINESS_BUDGET = env_number("PORTAL_READINESS_BUDGET", 0.8)
PORTAL_READINESS_CACHE_SECONDS = env_number("PORTAL_READINESS_CACHE_SECONDS", 2.0)
if not 0 < PORTAL_READINESS_BUDGET < 1:
    raise ValueError("PORTAL_READINESS_BUDGET must be between 0 and 1 second")
# PORTAL_CRITICAL_CHECKS naming no configured check is a system check error (opsadmin.health.checks).
# End of health checks ---------------------------------------------------------------
