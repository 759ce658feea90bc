"""Settings shared by every environment; values come from the environment.

With no ``DATABASE_URL`` the platform runs on an embedded SQLite file and with no
``REDIS_URL`` Celery uses kombu's filesystem transport, so a newcomer needs nothing
installed to try it. Production and CI set both.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from kombu import Queue

from o2c.queues import DEFAULT as DEFAULT_QUEUE
from o2c.queues import QUEUES, TASK_QUEUES

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "o2c",
    "orders",
    "invoicing",
    "collecting",
    "reconciliation",
    "reports",
    "portal",
    "demo",
]

MIDDLEWARE = [
    "o2c.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "o2c.middleware.IdleSessionMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "o2c.middleware.TenantMiddleware",
    "o2c.middleware.LanguageMiddleware",
    "o2c.middleware.SecondFactorMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "o2c.urls"
WSGI_APPLICATION = "o2c.wsgi.application"

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
                "o2c.context_processors.tenancy",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'o2c.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout makes a
    # writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# The application role row-level security binds (README "Tenant isolation"): the
# migrations grant it the tables and create it where the owner may create roles.
# With DATABASE_APP_ROLE set, every connection runs ``SET ROLE`` to it; unset, the
# login role's own rights apply (a superuser bypasses row-level security).
DATABASE_APP_ROLE = env("DATABASE_APP_ROLE", default="")
O2C_APP_ROLE = DATABASE_APP_ROLE or "o2c_app"


def guarded_database(database: dict) -> dict:
    """On PostgreSQL: Django's backend plus the tenant session setting
    (o2c/db/postgresql), and ``SET ROLE`` to the application role if one is set."""
    if database["ENGINE"] == "django.db.backends.postgresql":
        database["ENGINE"] = "o2c.db.postgresql"
        if DATABASE_APP_ROLE:
            database.setdefault("OPTIONS", {})["assume_role"] = DATABASE_APP_ROLE
    return database


DATABASES["default"] = guarded_database(DATABASES["default"])
# A PostgreSQL replica for the reports (o2c.replica; README "Running on several
# machines"): report pages, their API and export jobs read from it, everything else
# (and every write) uses default. Unset, everything uses default.
REPORTS_DATABASE_URL = env("REPORTS_DATABASE_URL", default="")


def with_reports_replica(databases: dict) -> dict:
    """``databases`` plus the ``reports`` alias when REPORTS_DATABASE_URL is set."""
    if REPORTS_DATABASE_URL:
        replica = guarded_database(env.db("REPORTS_DATABASE_URL"))
        replica["CONN_MAX_AGE"] = databases["default"].get("CONN_MAX_AGE", 0)
        replica["CONN_HEALTH_CHECKS"] = databases["default"].get(
            "CONN_HEALTH_CHECKS", False
        )
        databases["reports"] = replica
    return databases


DATABASES = with_reports_replica(DATABASES)
DATABASE_ROUTERS = ["o2c.replica.ReportsReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every sign-in (form or admin) before Django's own backend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Security headers ----------------------------------------------------------
# Scripts and styles come from our own static files (htmx and Chart.js are
# vendored); the one inline script carries the request's nonce. Inline style
# attributes stay allowed (htmx's indicator style, a few layout widths).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Sign-in protection (README "Sign-in security") ------------------------------
# Lockout: 5 failed sign-ins for one account, or from one address, within the
# cool-off lock that account or address for the cool-off (each parameter on its own).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "o2c.signin.locked_out"
# Reverse proxies in front of the app that append to X-Forwarded-For: the address
# counted is the one the outermost proxy saw (o2c.signin.client_address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "o2c.signin.client_address"
# A success does not wipe the address's failures: else one valid account would let
# an attacker reset the count between guesses at others.
AXES_RESET_ON_SUCCESS = False
# Signed out after this many minutes without a request; the session cookie also
# ends after SESSION_COOKIE_AGE whatever the activity.
SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("SESSION_IDLE_MINUTES", default=30))
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)
# Admins (and superusers) must confirm a TOTP device before reaching any page.
O2C_REQUIRE_ADMIN_2FA = env.bool("O2C_REQUIRE_ADMIN_2FA", default=True)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="O2C")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "/media/"
# Uploaded files (imports, bank statements, logos) and generated ones (exports,
# notice PDFs) all go through Django's default storage: the local MEDIA_ROOT, or
# an S3-compatible bucket (django-storages on boto3) when AWS_STORAGE_BUCKET_NAME
# is set, so that web and workers on several hosts see the same files.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")


def media_storage() -> dict:
    """The ``STORAGES["default"]`` entry for uploaded and generated files."""
    if not AWS_STORAGE_BUCKET_NAME:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "location": env("AWS_LOCATION", default="media"),
            # MinIO, Ceph and other S3-compatible services; None for AWS itself.
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            # None: boto3 finds credentials itself (instance role, ~/.aws).
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            # Private objects, handed out through the app (members only).
            "default_acl": None,
            "querystring_auth": True,
            # As on the file system: a second file of the same name gets a new name.
            "file_overwrite": False,
        },
    }


STORAGES = {
    "default": media_storage(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The interface speaks the organization's language (o2c.middleware), but raw numbers
# and dates in templates keep one machine-readable form (see o2c.formats).
FORMAT_MODULE_PATH = ["o2c.formats"]

# --- Email -------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="billing@o2c.localhost")

# --- Celery ------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Shared by every web process: API rate-limit counters (atomic INCR).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "o2c",
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    _queue_dir = VAR_DIR / "celery"
    # kombu's filesystem transport needs its folders before the first message.
    for _folder in ("queue", "processed", "control"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_queue_dir / "control"),
    }
    CELERY_RESULT_BACKEND = None
# One queue per kind of work (o2c.queues; README "Running on several machines").
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in QUEUES]
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
CELERY_TASK_ROUTES = {name: {"queue": queue} for name, queue in TASK_QUEUES.items()}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# LightGBM threads per training. One by default: on a machine whose cores are
# shared (several workers), OpenMP threads that wait for a busy core spin and
# make training many times slower; a dedicated worker may set 2 or more.
PREDICTION_THREADS = env.int("PREDICTION_THREADS", default=1)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Month-end figures and customer payment profiles behind DSO and the dashboard.
    "reports-refresh-metrics": {
        "task": "reports.refresh_all_metrics",
        "schedule": crontab(hour=3, minute=0),
    },
    # Each organization's dunning run at its own local hour (the task checks it).
    "collecting-schedule-runs": {
        "task": "collecting.schedule_runs",
        "schedule": crontab(minute="*/15"),
    },
    # Each organization's payment-date prediction: trained and open invoices scored.
    "collecting-refresh-predictions": {
        "task": "collecting.refresh_all_predictions",
        "schedule": crontab(hour=3, minute=30),
    },
    # Each week's cash forecast kept as made, to score it against the cash received.
    "reports-snapshot-forecasts": {
        "task": "reports.snapshot_all_forecasts",
        "schedule": crontab(hour=4, minute=0, day_of_week="mon"),
    },
    "verify-ledgers-nightly": {
        "task": "o2c.verify_all_ledgers",
        "schedule": crontab(hour=2, minute=30),
    },
    # Events past the 30 days the events API keeps, with their deliveries.
    "o2c-prune-events": {
        "task": "o2c.prune_events",
        "schedule": crontab(hour=4, minute=17),
    },
    "o2c-expire-idempotency-keys": {
        "task": "o2c.expire_idempotency_keys",
        "schedule": crontab(minute=43),
    },
    # Imports, exports and matching runs whose worker died: enqueued again.
    "o2c-sweep-jobs": {
        "task": "o2c.sweep_all_jobs",
        "schedule": crontab(minute="7,22,37,52"),
    },
}

# --- API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "o2c.api.auth.OrganizationAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["o2c.api.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "o2c.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["o2c.api.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "o2c.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["o2c.api.throttling.CallerRateThrottle"],
    "COERCE_DECIMAL_TO_STRING": True,
    "DATE_INPUT_FORMATS": ["iso-8601"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests per API key and per signed-in user (django-ratelimit rates: N/s, N/m, N/h).
API_RATE_LIMITS = {
    "api_key": env("API_RATE_LIMIT_KEY", default="1200/m"),
    "user": env("API_RATE_LIMIT_USER", default="600/m"),
}
# --- Customer portal (README "Customer portal") -----------------------------------
# The address customers reach the platform at: links in emails are built on it.
O2C_PUBLIC_URL = env("O2C_PUBLIC_URL", default="http://localhost:8000")
# Per client address (django-ratelimit rates): opening token links, asking for a
# sign-in link; and sign-in links per email address asked for.
PORTAL_RATE_LIMITS = {
    "token": env("PORTAL_RATE_LIMIT_TOKEN", default="30/m"),
    "sign_in": env("PORTAL_RATE_LIMIT_SIGN_IN", default="5/h"),
    "sign_in_address": env("PORTAL_RATE_LIMIT_SIGN_IN_ADDRESS", default="3/h"),
}
# A portal visit opened by a link lasts this long without a new link.
PORTAL_SESSION_MINUTES = env.int("PORTAL_SESSION_MINUTES", default=120)
# Dispute attachments: size and types a customer may upload.
PORTAL_ATTACHMENT_MAX_BYTES = env.int("PORTAL_ATTACHMENT_MAX_BYTES", default=5_000_000)
PORTAL_ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "O2C API",
    "DESCRIPTION": (
        "Accounts receivable, Order-to-Cash. Authenticate with an organization API "
        "key (`Authorization: Api-Key <key>`) or a browser session. Every POST accepts "
        "an `Idempotency-Key` header. Amounts are decimal strings in the document's "
        "currency."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "DEFAULT_GENERATOR_CLASS": "o2c.api.schema.TenantSchemaGenerator",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "o2c.api.schema.query_parameters_not_blank",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "o2c.models.Role",
        "ContactRoleEnum": "orders.models.Contact.Role",
        "InvoiceStatusEnum": "invoicing.models.Invoice.Status",
        "CreditNoteStatusEnum": "invoicing.models.CreditNote.Status",
        "OrderStatusEnum": "orders.models.SalesOrder.Status",
        "FulfillmentStatusEnum": "orders.models.Fulfillment.Status",
        "PaymentStatusEnum": "reconciliation.models.Payment.Status",
        "AllocationStatusEnum": "reconciliation.models.Allocation.Status",
        "WriteOffStatusEnum": "reconciliation.models.WriteOff.Status",
        "JobStatusEnum": "o2c.models.Job.Status",
        "PaymentTermKindEnum": "orders.models.PaymentTerm.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "o2c.requestid.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # WeasyPrint reports every layout step at INFO.
    "loggers": {
        "weasyprint.progress": {"level": "WARNING"},
        # django-axes logs every sign-in check at INFO; failures and lockouts stay.
        "axes": {"level": "WARNING"},
    },
}
