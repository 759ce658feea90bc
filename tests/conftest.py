import pytest
from aiosmtpd.controller import Controller
from rest_framework.test import APIClient

from o2c.models import OrganizationAPIKey, Role
from o2c.tenancy import tenant_context
from tests.factories import OrganizationFactory, member
from tests.smtp import SmtpSink, free_port


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


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
