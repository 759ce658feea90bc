"""The two guards of tenant isolation, each on its own (README "Tenant isolation").

The managers refuse tenant rows without an organization in context, on every
database and whoever connects. Behind them PostgreSQL's row-level security hides
every tenant row from a session that has not named its organization: raw SQL, a
``_base_manager`` lookup or a forgotten ``unscoped`` see nothing. CI connects as a
superuser, whom row-level security never binds, so these tests switch to the
application role (``app_role``), as production runs.
"""

from datetime import date, timedelta

import pytest
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from o2c.api.idempotency import expire_keys
from o2c.errors import TenantNotSet
from o2c.models import IdempotencyRecord
from o2c.rls import tenant_models, unguarded_tables
from o2c.tenancy import all_tenants, tenant_context
from orders.models import Customer
from tests.conftest import as_table_owner
from tests.factories import CustomerFactory, issued_invoice

GUARDED_TABLES = ("orders_customer", "invoicing_invoice", "invoicing_ledgerentry")


@pytest.fixture
def two_companies(org, other_org):
    """Each organization with one customer, its issued invoice and ledger entry."""
    for organization, name in ((org, "Acme"), (other_org, "Globex")):
        with tenant_context(organization):
            customer = CustomerFactory(name=name)
            issued_invoice(customer, "120.00", invoice_date=date(2026, 1, 5))
    return org, other_org


def rows_seen(table: str) -> list[int]:
    """The organization ids of the rows a raw query on ``table`` returns."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT organization_id FROM {table} ORDER BY organization_id")
        return [row[0] for row in cursor.fetchall()]


# --- row-level security -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_tenant_table_has_forced_row_level_security_and_the_policy():
    tables = [model._meta.db_table for model in tenant_models()]
    assert len(tables) > 50 and "invoicing_ledgerentry" in tables
    assert unguarded_tables(connection) == []


@pytest.mark.postgres
def test_a_table_without_the_policy_is_reported(db):
    with as_table_owner(), connection.cursor() as cursor:
        cursor.execute("DROP POLICY tenant_isolation ON orders_contact")
    assert unguarded_tables(connection) == ["orders_contact"]


@pytest.mark.postgres
def test_raw_sql_without_an_organization_sees_no_tenant_rows(two_companies, app_role):
    for table in GUARDED_TABLES:
        assert rows_seen(table) == [], table
    # Nor does the manager's escape hatch: the database needs all_tenants() too.
    assert Customer.unscoped.count() == 0


@pytest.mark.postgres
def test_raw_sql_in_an_organization_sees_only_its_rows(two_companies, app_role):
    org, other_org = two_companies
    with tenant_context(org):
        for table in GUARDED_TABLES:
            assert rows_seen(table) == [org.pk], table
        assert list(Customer.unscoped.values_list("name", flat=True)) == ["Acme"]
    with tenant_context(other_org):
        assert rows_seen("orders_customer") == [other_org.pk]
    with all_tenants():
        assert rows_seen("orders_customer") == [org.pk, other_org.pk]
        with tenant_context(org):  # one organization's work inside is narrowed
            assert rows_seen("orders_customer") == [org.pk]


@pytest.mark.postgres
def test_writing_a_row_for_another_organization_is_refused(two_companies, app_role):
    org, other_org = two_companies
    with tenant_context(org):
        acme = Customer.objects.get()
        with (
            pytest.raises(ProgrammingError, match="row-level security"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "INSERT INTO o2c_idempotencyrecord (organization_id, key, "
                "method, path, request_hash, response_status, created_at) "
                "VALUES (%s, 'k', 'POST', '/', '', 201, now())",
                [other_org.pk],
            )
        # The ORM's escape hatch writes no better than raw SQL.
        with (
            pytest.raises(ProgrammingError, match="row-level security"),
            transaction.atomic(),
        ):
            Customer.unscoped.create(
                organization=other_org,
                number="C-FOREIGN",
                name="Planted",
                currency="EUR",
                payment_term_id=acme.payment_term_id,
            )
        with (
            pytest.raises(ProgrammingError, match="row-level security"),
            transaction.atomic(),
        ):
            Customer.objects.filter(pk=acme.pk).update(organization=other_org)
        assert rows_seen("orders_customer") == [org.pk]
        assert rows_seen("o2c_idempotencyrecord") == []
    with all_tenants():
        assert rows_seen("orders_customer") == [org.pk, other_org.pk]


@pytest.mark.postgres
def test_a_superuser_is_not_bound_so_the_managers_guard_alone(two_companies):
    """Without the application role (CI's superuser, or SQLite) the database lets
    every row through; the managers still refuse to read without a tenant."""
    org, other_org = two_companies
    with as_table_owner():  # the suite may run as the application role
        assert rows_seen("orders_customer") == [org.pk, other_org.pk]
    with pytest.raises(TenantNotSet):
        Customer.objects.count()


def test_the_managers_refuse_without_an_organization_on_any_database(org):
    with tenant_context(org):
        CustomerFactory()
    with pytest.raises(TenantNotSet):
        list(Customer.objects.all())
    with pytest.raises(TenantNotSet):
        Customer.objects.create(name="Nobody's")


# --- the session setting ------------------------------------------------------------


@pytest.mark.postgres
def test_one_setting_per_tenant_switch_not_per_query(two_companies, app_role):
    org, other_org = two_companies
    with tenant_context(org):
        Customer.objects.count()  # the switch to org is paid here
        before = connection.tenant_setting_statements
        for _ in range(5):
            assert Customer.objects.count() == 1
        assert connection.tenant_setting_statements == before
    before = connection.tenant_setting_statements
    for organization in (other_org, org, other_org):  # as the beat loops
        with tenant_context(organization):
            assert Customer.objects.get().organization_id == organization.pk
            assert Customer.objects.count() == 1
    assert connection.tenant_setting_statements == before + 3


@pytest.mark.postgres
def test_the_setting_survives_a_rolled_back_savepoint(two_companies, app_role):
    """PostgreSQL undoes a set_config made in a savepoint that rolls back; the
    connection notices and sets it again before the next query."""
    org, _ = two_companies
    with tenant_context(org):
        with transaction.atomic():
            assert Customer.objects.count() == 1
            transaction.set_rollback(True)
        assert rows_seen("orders_customer") == [org.pk]


# --- cross-tenant work as the application role ------------------------------------


@pytest.mark.postgres
def test_expiring_idempotency_keys_reaches_every_organization(two_companies, app_role):
    long_ago = timezone.now() - timedelta(days=2)
    for organization in two_companies:
        with tenant_context(organization):
            IdempotencyRecord.objects.create(
                organization=organization,
                key="k",
                method="POST",
                path="/api/v1/customers/",
                response_status=201,
            )
    with all_tenants():
        IdempotencyRecord.unscoped.update(created_at=long_ago)
    assert expire_keys() == 2
    with all_tenants():
        assert IdempotencyRecord.unscoped.count() == 0
