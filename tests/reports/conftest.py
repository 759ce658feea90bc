import pytest
from django.db import transaction

from demo.services import seed_demo
from o2c.tenancy import tenant_context


@pytest.fixture(scope="module")
def demo_company(django_db_setup, django_db_blocker):
    """The generated demo company (40 customers, 8 months, seed 7), seeded once per
    test module inside a transaction that is rolled back afterwards (the ledger
    refuses DELETE on PostgreSQL); each test runs in a savepoint within it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            result = seed_demo(slug="reports-demo", customers=40, months=8, seed=7)
            yield result.organization
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(demo_company, db):
    with tenant_context(demo_company):
        yield demo_company


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Exports and job files go to a temporary folder, not var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
