"""The stored month-end figures: fresh until a posting lands in a closed month."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from invoicing.services.invoices import LineInput, credit_note_create
from reports.selectors.snapshot import (
    current_snapshot,
    month_sums,
    needs_refresh,
    profiles_are_old,
    snapshot_is_stale,
)
from reports.services import metrics_refresh
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

pytestmark = pytest.mark.django_db
MAY = date(2026, 5, 1)


def _may_receivables(**kwargs):
    sums, _, snapshot = month_sums(months=1, **kwargs)
    return sums[("organization", "", "EUR")][MAY].receivables, snapshot


def test_back_dated_postings_make_the_figures_stale(tenant):
    with time_machine.travel("2026-06-15 10:00 +0000", tick=False):
        customer = CustomerFactory()
        invoice = issued_invoice(
            customer, "900.00", invoice_date=date(2026, 5, 4), due_date=date(2026, 6, 3)
        )
        metrics_refresh()
        assert not needs_refresh(current_snapshot())
        assert _may_receivables()[1] is not None  # read from the snapshot

        # Cash dated in June changes nothing about May.
        received_payment(
            customer,
            "100.00",
            received_date=date(2026, 6, 10),
            allocations=[(invoice, "100.00")],
        )
        assert not snapshot_is_stale(current_snapshot())
        assert _may_receivables() == (Decimal("900.00"), current_snapshot())

        # A credit note dated in May does.
        credit_note_create(
            invoice=invoice,
            credit_date=date(2026, 5, 28),
            reason="Short delivery",
            lines=[LineInput("Short", Decimal(1), Decimal("50.00"))],
            actor=SYSTEM,
        )
        assert snapshot_is_stale(current_snapshot())
        assert _may_receivables() == (Decimal("850.00"), None)  # from the ledger
        stale, used = _may_receivables(allow_stale=True)
        assert stale == Decimal("900.00") and used is not None

        metrics_refresh()
        assert _may_receivables() == (Decimal("850.00"), current_snapshot())

    with time_machine.travel("2026-06-16 08:00 +0000", tick=False):
        snapshot = current_snapshot()
        assert profiles_are_old(snapshot) and not snapshot_is_stale(snapshot)
        metrics_refresh()
        assert not needs_refresh(current_snapshot())

    with time_machine.travel("2026-07-01 08:00 +0000", tick=False):
        assert snapshot_is_stale(current_snapshot())  # June has closed
