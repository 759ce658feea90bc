"""verify_ledger: passes on a clean ledger, fails loudly on a corrupted one."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from invoicing.models import Invoice, LedgerEntry
from o2c.checks import run_ledger_checks
from o2c.tenancy import all_tenants, tenant_context
from reconciliation.models import Payment
from tests.conftest import as_table_owner
from tests.factories import CustomerFactory, issued_invoice, received_payment


def verify(*args, **options):
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err, **options)
    except CommandError as failure:
        return out.getvalue(), err.getvalue(), str(failure)
    return out.getvalue(), err.getvalue(), None


@pytest.fixture
def books(org):
    """One organization's everyday receivables: paid, partly paid, cash on account."""
    with tenant_context(org):
        customer = CustomerFactory()
        paid = issued_invoice(customer, "100.00", invoice_date=date(2026, 1, 5))
        partly = issued_invoice(customer, "0.30", invoice_date=date(2026, 1, 5))
        received_payment(
            customer,
            "110.10",
            received_date=date(2026, 1, 20),
            allocations=[(paid, "100.00"), (partly, "0.10")],
        )
        received_payment(customer, "0.10", allocations=[(partly, "0.10")])
        return {"paid": paid, "partly": partly}


def test_a_clean_ledger_passes(org, books):
    out, err, failure = verify(org=org.slug)
    assert failure is None
    assert out == f"{org.slug}: ledger consistent\n"
    assert err == ""


def test_open_amount_changed_behind_the_services_back_is_caught(org, books):
    partly = books["partly"]
    with all_tenants():
        Invoice.unscoped.filter(pk=partly.pk).update(open_amount=Decimal("0.05"))

    out, err, failure = verify(org=org.slug)

    assert failure == "1 ledger problem(s) listed (at most 20 per check)."
    assert err == (
        f"{org.slug}: invoice {partly.number}: open_amount 0.050 but ledger says "
        "0.100\n"
    )
    assert "ledger consistent" not in out


def test_status_not_derived_from_the_open_amount_is_caught(org, books):
    paid = books["paid"]
    with all_tenants():
        Invoice.unscoped.filter(pk=paid.pk).update(status=Invoice.Status.OPEN)
    _, err, failure = verify(org=org.slug)
    assert failure == "1 ledger problem(s) listed (at most 20 per check)."
    assert f"invoice {paid.number}: status open but open amount 0.000" in err


def test_unapplied_cash_changed_behind_the_services_back_is_caught(org, books):
    with all_tenants():
        payment = Payment.unscoped.get(number="PAY-000001")
        Payment.unscoped.filter(pk=payment.pk).update(unapplied_amount=Decimal("9.00"))
    _, err, failure = verify(org=org.slug)
    assert failure is not None
    assert "payment PAY-000001: unapplied 9.000 but ledger says" in err
    assert "payment PAY-000001: allocations" in err


def corrupt_entry(pk, **values):
    """UPDATE an entry as a stray SQL shell would (past PostgreSQL's guard)."""
    trigger = (
        "ALTER TABLE invoicing_ledgerentry {} TRIGGER invoicing_ledgerentry_append_only"
    )
    postgres = connection.vendor == "postgresql"
    with as_table_owner(), all_tenants(), connection.cursor() as cursor:
        if postgres:
            # ALTER TABLE waits for no deferred foreign-key checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(trigger.format("DISABLE"))
        LedgerEntry.unscoped.filter(pk=pk).update(**values)
        if postgres:
            cursor.execute(trigger.format("ENABLE"))


def test_an_inexact_entry_is_caught(org, books):
    with tenant_context(org):
        entry = LedgerEntry.objects.filter(kind="invoice").first()
    corrupt_entry(entry.pk, amount=Decimal("100.005"))
    _, err, failure = verify(org=org.slug)
    assert failure is not None
    assert f"ledger entry {entry.pk}: amount not exact in EUR" in err


def test_all_checks_every_organization_and_names_the_broken_one(org, other_org, books):
    with tenant_context(other_org):
        customer = CustomerFactory()
        invoice = issued_invoice(customer, "50.00")
    with all_tenants():
        Invoice.unscoped.filter(pk=invoice.pk).update(open_amount=Decimal("49.99"))

    out, err, failure = verify("--all")

    assert failure is not None
    assert f"{org.slug}: ledger consistent" in out
    assert err.startswith(f"{other_org.slug}: invoice {invoice.number}:")
    with tenant_context(org):
        assert run_ledger_checks() == []
