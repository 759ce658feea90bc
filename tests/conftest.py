from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from o2c.models import OrganizationAPIKey, Role
from o2c.tenancy import tenant_context
from tests.factories import OrganizationFactory, member
from tests.smtp import SmtpSink, free_port

# No test depends on speed: on a busy machine (CI, two cores, xdist) hypothesis's
# deadline and its "too slow" health checks would fail tests that are correct.
hypothesis_settings.register_profile(
    "o2c",
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
        HealthCheck.data_too_large,
    ],
)
hypothesis_settings.load_profile("o2c")


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The login role creates and migrates the test databases: with
    ``DATABASE_APP_ROLE`` set, the application role takes over only afterwards
    (see :func:`django_db_setup`), as the owner and the app do in production."""
    from django.db import connections

    for connection in connections.all():
        connection.settings_dict.get("OPTIONS", {}).pop("assume_role", None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """With ``DATABASE_APP_ROLE`` set, the whole suite runs as that role, bound by
    row-level security (README "Tenant isolation")."""
    from django.conf import settings
    from django.db import connections

    role = settings.DATABASE_APP_ROLE
    connection = connections["default"]
    if not role or connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            # Transactional tests empty the tables with TRUNCATE between tests,
            # which the application itself never does.
            cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {role}")
        connection.close()
    connection.settings_dict["OPTIONS"]["assume_role"] = role
    yield
    connection.settings_dict["OPTIONS"].pop("assume_role", None)
    with django_db_blocker.unblock():
        connection.close()


@pytest.fixture(autouse=True)
def _reports_replica_only_where_asked(request, monkeypatch):
    """On PostgreSQL the test settings add the ``reports`` alias (a second connection
    to the test database). Django refuses queries to a database a test did not
    list, so report reads use it only in tests that list it
    (tests/platform/test_replica.py); elsewhere they read ``default``."""
    marker = request.node.get_closest_marker("django_db")
    databases = (marker.kwargs.get("databases") if marker else None) or ()
    if databases != "__all__" and "reports" not in databases:
        monkeypatch.setattr("o2c.replica.replica_configured", lambda: False)


@pytest.fixture
def app_role(db):
    """The test's queries run as the application role (``o2c_app``), bound by
    row-level security as production is. ``SET ROLE`` happens inside the test's
    transaction, so its rollback ends it."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row-level security needs PostgreSQL (set DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {settings.O2C_APP_ROLE}")
    return settings.O2C_APP_ROLE


@contextmanager
def as_table_owner():
    """DDL in a test (a trigger switched off, an index dropped) as the login role
    that owns the tables, also when the suite runs as the application role."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, session_user")
        current, session = cursor.fetchone()
        if current != session:
            cursor.execute("RESET ROLE")
    try:
        yield
    finally:
        if current != session:
            with connection.cursor() as cursor:
                cursor.execute(f"SET ROLE {current}")


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server, with Django's SMTP backend pointed at it."""
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory()


@pytest.fixture
def tenant(org):
    """Run the test body inside ``org``'s context."""
    with tenant_context(org):
        yield org


def api_client_for(organization, role=Role.FINANCE) -> APIClient:
    """An APIClient authenticated with a fresh API key of ``role``."""
    _, key = OrganizationAPIKey.objects.create_key(
        name=f"test-{role}", organization=organization, role=role
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def api(org):
    return api_client_for(org, Role.FINANCE)


@pytest.fixture
def admin_api(org):
    return api_client_for(org, Role.ADMIN)


@pytest.fixture
def other_api(other_org):
    return api_client_for(other_org, Role.ADMIN)


@pytest.fixture
def session_client(org):
    user = member(org, Role.FINANCE)
    client = APIClient()
    client.force_login(user)
    return client
