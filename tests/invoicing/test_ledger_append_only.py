"""On PostgreSQL the database itself refuses to change or delete ledger entries."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from invoicing.models import LedgerEntry
from tests.factories import CustomerFactory, issued_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def entry(tenant):
    issued_invoice(CustomerFactory(), "100.00")
    return LedgerEntry.unscoped.get()


def test_update_of_a_ledger_entry_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.unscoped.filter(pk=entry.pk).update(amount=Decimal("1.00"))
    assert LedgerEntry.unscoped.get(pk=entry.pk).amount == Decimal("100.00")


def test_delete_of_a_ledger_entry_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.unscoped.filter(pk=entry.pk).delete()
    assert LedgerEntry.unscoped.filter(pk=entry.pk).exists()


def test_appending_still_works(entry, tenant):
    issued_invoice(entry.customer, "5.00")
    assert LedgerEntry.unscoped.count() == 2
