"""Production: every secret and address comes from the environment, with no default.

A missing ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` or ``REDIS_URL`` stops the
process at start with ``ImproperlyConfigured`` naming the variable, instead of running
on a development default. TLS is expected to end at a proxy that sets
``X-Forwarded-Proto``.
"""

from .base import *  # noqa: F403
from .base import env, guarded_database, media_storage, with_reports_replica

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DATABASES = {"default": guarded_database(env.db("DATABASE_URL"))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# Persistent connections are checked before reuse, so a restarted PostgreSQL costs one
# failed ping, not one failed request per worker.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES = with_reports_replica(DATABASES)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The TLS proxy appends the client's address to X-Forwarded-For; sign-in lockouts
# count that address, not the proxy's.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Health probes (compose, load balancers) call the container over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": media_storage(),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REDIS_URL = env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

# Webhooks never target private or loopback addresses in production.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
