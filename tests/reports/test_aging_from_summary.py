"""Today's aging of customers ranked from the receivables summary gives exactly
what the aging from the ledger gives: totals, every page, the count, per currency
or converted to the base currency, by total or by overdue."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from o2c.models import FxRate
from reports.selectors import aging as aging_module
from reports.selectors.aging import aging_report
from tests.factories import CustomerFactory, issued_invoice, received_payment

TODAY = date(2026, 6, 30)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False):
        yield


@pytest.fixture
def book(tenant):
    """Customers owing in EUR and USD, current and overdue, with cash on account,
    one settled, one only in credit, and ties on the amounts."""
    FxRate.objects.create(
        organization=tenant, currency="USD", date=date(2026, 6, 1), rate=Decimal("0.9")
    )
    for n in range(9):
        customer = CustomerFactory(name=f"Customer {n}")
        for k in range(n % 4):
            due = TODAY + timedelta(days=15 - 20 * k)
            issued_invoice(
                customer,
                f"{100 * (n % 3 + 1)}.00",
                invoice_date=due - timedelta(days=30),
                due_date=due,
                currency="USD" if (n + k) % 3 == 0 else "EUR",
            )
        if n % 3 == 1:
            received_payment(customer, "25.00", received_date=TODAY)
    settled = CustomerFactory(name="Settled")
    invoice = issued_invoice(settled, "40.00", invoice_date=date(2026, 5, 1))
    received_payment(
        settled, "40.00", received_date=TODAY, allocations=[(invoice, "40.00")]
    )
    return tenant


def figures(report):
    return (
        [(t.currency, t.buckets, t.unapplied) for t in report.totals],
        [
            (line.key, line.currency, line.buckets, line.unapplied)
            for line in report.lines
        ],
        report.line_count,
    )


@pytest.mark.parametrize("sort", ["total", "overdue"])
@pytest.mark.parametrize("in_base", [False, True])
@pytest.mark.parametrize("page_size", [3, 50])
def test_the_summary_ranks_as_the_ledger_does(book, sort, in_base, page_size):
    for page in (1, 2, 3, 9):
        options = dict(sort=sort, in_base=in_base, page=page, page_size=page_size)
        assert figures(aging_report(**options)) == figures(
            aging_report(use_ledger=True, **options)
        ), page


def test_todays_customer_aging_reads_the_summary(book, monkeypatch):
    """The fast path is the one taken (the comparison above is not of one path
    with itself)."""
    calls = []
    original = aging_module._AgingQuery.run_from_summary

    def spy(self, **kwargs):
        calls.append(kwargs["sort"])
        return original(self, **kwargs)

    monkeypatch.setattr(aging_module._AgingQuery, "run_from_summary", spy)
    aging_report(sort="overdue")
    aging_report(use_ledger=True)
    aging_report(group_by="collector")
    assert calls == ["overdue"]
