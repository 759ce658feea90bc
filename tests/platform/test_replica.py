"""Reports read from the replica (``REPORTS_DATABASE_URL``), writes never go there.

On PostgreSQL the test settings make ``reports`` a second connection to the test
database (o2c/settings/test.py). To tell the two apart, the replica connection is
held in a REPEATABLE READ transaction opened before a new invoice is written on the
primary: that is exactly a replica lagging behind, and whatever a report shows
tells which connection it read. The replica also runs as the application role,
bound by row-level security, so a report through it shows figures only if that
second session carries the tenant setting as the primary's does.
"""

import csv
import io
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext

from invoicing.models import Invoice
from o2c.models import Job, Role
from o2c.replica import REPORTS, ReportsReplicaRouter, report_database, report_reads
from o2c.services import Actor
from o2c.tenancy import tenant_context
from reports import exports, services
from tests.conftest import api_client_for
from tests.factories import CustomerFactory, issued_invoice, member

WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False):
        yield


@contextmanager
def lagging_replica():
    """The replica's session sees the database as it is now, and nothing committed
    after, until the block ends (a replica catching up)."""
    replica = connections[REPORTS]
    with replica.cursor() as cursor:
        cursor.execute(
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ"
        )
    try:
        with transaction.atomic(using=REPORTS):
            with replica.cursor() as cursor:
                cursor.execute(f"SET LOCAL ROLE {settings.O2C_APP_ROLE}")
                cursor.execute("SELECT 1")  # the transaction's snapshot: now
            yield
    finally:
        with replica.cursor() as cursor:
            cursor.execute(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "
                "READ COMMITTED"
            )


def statements(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def writes(captured) -> list[str]:
    return [sql for sql in statements(captured) if sql.upper().startswith(WRITES)]


def mentions(captured, table: str) -> list[str]:
    return [sql for sql in statements(captured) if f'"{table}"' in sql]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS])
def test_the_aging_report_reads_the_replica_and_writes_nothing_there(org):
    with tenant_context(org):
        customer = CustomerFactory()
        issued_invoice(customer, "100.00", invoice_date=date(2026, 6, 1))
    api = api_client_for(org, Role.FINANCE)

    with lagging_replica():
        with tenant_context(org):
            issued_invoice(customer, "250.00", invoice_date=date(2026, 6, 2))
        with (
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
            CaptureQueriesContext(connections[REPORTS]) as replica,
        ):
            lagging = api.get("/api/v1/reports/aging/").json()
        # Outside the organization's context the same session sees no invoice:
        # row-level security binds it, so the figures above needed the tenant
        # setting on this second connection.
        with connections[REPORTS].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM invoicing_invoice")
            (unscoped_count,) = cursor.fetchone()

    # The replica has not seen the second invoice yet: the report shows 100.00.
    assert [total["total"] for total in lagging["totals"]] == ["100.00"]
    assert unscoped_count == 0
    assert mentions(replica, "invoicing_invoice")
    # The primary answered the API key and nothing of the report.
    assert not mentions(primary, "invoicing_invoice")
    assert not mentions(primary, "invoicing_ledgerentry")
    assert writes(replica) == []

    # Caught up, the replica shows both invoices.
    caught_up = api.get("/api/v1/reports/aging/").json()
    assert [total["total"] for total in caught_up["totals"]] == ["350.00"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS])
def test_an_export_job_reads_the_replica_and_records_itself_on_the_primary(org):
    with tenant_context(org):
        customer = CustomerFactory(name="Replica Reader GmbH")
        issued_invoice(customer, "100.00", invoice_date=date(2026, 6, 1))
        user = member(org, Role.FINANCE)

    with lagging_replica(), tenant_context(org):
        issued_invoice(customer, "250.00", invoice_date=date(2026, 6, 2))
        spec = exports.export_spec("invoices", "csv", {})
        with CaptureQueriesContext(connections[REPORTS]) as replica:
            # Celery runs eagerly in the tests: the job runs once this commits.
            job = services.export_job_create(spec=spec, actor=Actor.for_user(user, org))
        job = Job.objects.get(pk=job.pk)

    assert job.status == Job.Status.SUCCEEDED
    with job.output_file.open("rb") as file:
        rows = list(csv.DictReader(io.StringIO(file.read().decode("utf-8-sig"))))
    # The file holds what the replica had: the first invoice only.
    assert [row["Customer"] for row in rows] == ["Replica Reader GmbH"]
    assert [Decimal(row["Total"]) for row in rows] == [Decimal("100.00")]
    assert mentions(replica, "invoicing_invoice")
    # The job's claim, progress and result went to the primary, none to the replica.
    assert writes(replica) == []
    assert job.result == {"rows": 1, "filename": job.result["filename"]}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS])
def test_writes_and_locking_reads_inside_report_reads_use_the_primary(org):
    with tenant_context(org), report_reads():
        customer = CustomerFactory()
        with (
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
            CaptureQueriesContext(connections[REPORTS]) as replica,
        ):
            invoice = issued_invoice(customer, "100.00")
            with transaction.atomic():
                Invoice.objects.select_for_update().get(pk=invoice.pk)
                # A transaction on the primary keeps its reads there as well.
                assert report_database() == DEFAULT_DB_ALIAS
                Invoice.objects.get(pk=invoice.pk)
            assert report_database() == REPORTS
            Invoice.objects.get(pk=invoice.pk)
    assert writes(replica) == []
    assert not [sql for sql in statements(replica) if "FOR UPDATE" in sql]
    assert writes(primary)
    assert [sql for sql in statements(primary) if "FOR UPDATE" in sql]
    # One plain read of the invoice went to the replica: the one outside the block.
    invoice_reads = [
        sql for sql in mentions(replica, "invoicing_invoice") if "SELECT" in sql
    ]
    assert invoice_reads


def test_the_router_sends_only_report_reads_of_business_rows_to_the_replica(
    monkeypatch,
):
    from o2c.models import Organization

    monkeypatch.setattr("o2c.replica.replica_configured", lambda: True)
    monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "in_atomic_block", False)
    router = ReportsReplicaRouter()
    assert router.db_for_read(Invoice) == DEFAULT_DB_ALIAS
    with report_reads():
        assert router.db_for_read(Invoice) == REPORTS
        assert router.db_for_read(Organization) == DEFAULT_DB_ALIAS
        assert router.db_for_write(Invoice) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "invoicing") is True
    assert router.allow_migrate(REPORTS, "invoicing") is False
