from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Each test process counts rate limits on its own; tests/api/test_rate_limits.py
# runs them on Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tests sign people in with force_login (no second factor); the tests of two-factor
# authentication turn the requirement on.
O2C_REQUIRE_ADMIN_2FA = False
# On PostgreSQL the reports replica (o2c.replica) is a second connection to the test
# database, so the routing is exercised: tests/platform/test_replica.py proves report
# reads use it and writes never do. A REPORTS_DATABASE_URL of the environment is
# ignored: the test database is the only one the runner creates.
DATABASES.pop("reports", None)  # noqa: F405
if DATABASES["default"]["ENGINE"] == "o2c.db.postgresql":  # noqa: F405
    DATABASES["reports"] = {  # noqa: F405
        **DATABASES["default"],  # noqa: F405
        "TEST": {"MIRROR": "default"},
    }
