"""The metric definitions against examples worked by hand."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from invoicing.services.invoices import invoice_void
from o2c.errors import DomainError
from o2c.services import Actor
from reports.selectors.aging import make_buckets, parse_boundaries
from reports.selectors.metrics import (
    ar_turnover,
    collection_effectiveness,
    countback_dso,
    metric_series,
)
from reports.selectors.snapshot import month_sums
from tests.factories import CustomerFactory, issued_invoice, received_payment

D = Decimal


def test_countback_dso_of_the_issue():
    # 212,000 - 100,000 - 80,000 leaves 32,000 of the 70,000 month: 30+30+13.71.
    months = [(D(100_000), 30), (D(80_000), 30), (D(70_000), 30)]
    assert round(countback_dso(D(212_000), months), 1) == D("73.7")


def test_countback_counts_whole_months_and_stops_when_used_up():
    assert countback_dso(D(100_000), [(D(100_000), 31), (D(5), 30)]) == 31
    assert countback_dso(D(50_000), [(D(100_000), 30)]) == 15
    # A month without sales is a whole month of days.
    assert countback_dso(D(150), [(D(0), 28), (D(100), 31), (D(100), 30)]) == 74
    assert countback_dso(D(0), [(D(100), 30)]) == 0


def test_countback_has_no_figure_when_receivables_outlast_the_history():
    assert countback_dso(D(500), [(D(100), 30), (D(100), 31)]) is None


def test_cei_best_possible_dso_and_add_by_hand():
    # Opening 100,000 + sales 50,000; 90,000 still open of which 30,000 not due:
    # collected 60,000 of the 120,000 that could have been.
    assert collection_effectiveness(
        opening=D(100_000),
        sales=D(50_000),
        closing=D(90_000),
        closing_current=D(30_000),
    ) == D(50)
    # Turnover: 50,000 a 30-day month is 608,333 a year, over average AR 95,000.
    turnover = ar_turnover(
        opening=D(100_000), closing=D(90_000), sales=D(50_000), days=30
    )
    assert round(turnover, 2) == D("6.40")


def test_cei_without_collectible_receivables_is_undefined():
    assert (
        collection_effectiveness(
            opening=D(0), sales=D(0), closing=D(0), closing_current=D(0)
        )
        is None
    )


def test_default_buckets_and_their_labels():
    labels = [bucket.label for bucket in make_buckets([30, 60, 90])]
    assert labels == ["Current", "1\u201330", "31\u201360", "61\u201390", "90+"]
    assert make_buckets([15])[2].min_days == 16


@pytest.mark.parametrize(
    "value", ["", "0,30", "30,30", "60,30", "a,b", "1,2,3,4,5,6,7,8,9,10,11"]
)
def test_bad_bucket_limits_are_refused(value):
    with pytest.raises(DomainError) as error:
        parse_boundaries(value)
    assert error.value.code == "invalid_buckets"


@pytest.mark.django_db
@time_machine.travel("2026-05-15 12:00 +0000", tick=False)
def test_metrics_from_the_ledger_match_a_hand_computation(tenant):
    """February (28 days) 70,000, March (31) 80,000, April (30) 100,000 invoiced;
    38,000 paid on the February invoice in April leaves 212,000 open at 30 April."""
    customer = CustomerFactory()
    february = issued_invoice(customer, "70000.00", invoice_date=date(2026, 2, 10))
    issued_invoice(customer, "80000.00", invoice_date=date(2026, 3, 10))
    issued_invoice(customer, "100000.00", invoice_date=date(2026, 4, 10))
    received_payment(
        customer,
        "38000.00",
        received_date=date(2026, 4, 20),
        allocations=[(february, "38000.00")],
    )
    sums, months, _ = month_sums(months=3, stored=False)
    (series,) = metric_series(sums=sums, months=months, in_base=False)
    april = series.latest
    assert april.month == date(2026, 4, 1)
    assert april.receivables == D("212000.00")
    assert april.current_receivables == D("100000.00")  # due 10 May
    assert april.credit_sales == D("100000.00")
    # 30 (April) + 31 (March) + 32,000/70,000 of February's 28 days.
    assert round(april.dso_countback, 1) == D("73.8")
    assert april.dso_simple == D("63.60")  # 212,000 / 100,000 x 30
    assert april.best_possible_dso == D("30.00")
    assert april.average_days_delinquent == D("33.60")
    # Opening 150,000 + 100,000 sold - 212,000 open = 38,000 collected of the
    # 150,000 collectible (everything but the 100,000 not yet due).
    assert april.cei == D("25.33")
    assert april.percent_current == D("47.17")
    assert april.overdue == D("112000.00")


@pytest.mark.django_db
@time_machine.travel("2026-05-15 12:00 +0000", tick=False)
def test_receivables_from_before_the_window_stay_current_until_due(tenant):
    """Three invoices of February 2025, long before April 2026's window and its
    twelve months of history: 60,000 due 30 June 2026 and 5,000 due 30 April
    2026 (its month's last day) are current at the end of April; 2,000 due
    31 March 2026 is overdue."""
    customer = CustomerFactory()
    for amount, due in [
        ("60000.00", date(2026, 6, 30)),
        ("5000.00", date(2026, 4, 30)),
        ("2000.00", date(2026, 3, 31)),
    ]:
        issued_invoice(customer, amount, invoice_date=date(2025, 2, 10), due_date=due)
    sums, months, _ = month_sums(months=1, stored=False)
    (series,) = metric_series(sums=sums, months=months, in_base=False)
    april = series.latest
    assert april.month == date(2026, 4, 1)
    assert april.receivables == D("67000.00")
    assert april.current_receivables == D("65000.00")
    assert april.overdue == D("2000.00")
    assert april.credit_sales == 0
    assert april.percent_current == D("97.01")  # 65,000 / 67,000


@pytest.mark.django_db
@time_machine.travel("2026-05-15 12:00 +0000", tick=False)
def test_voided_invoices_are_negative_credit_sales_in_the_month_of_the_void(tenant):
    """March: 10,000 and 4,000 invoiced, the 4,000 voided in March; April:
    6,000 invoiced and the 10,000 voided. March sold 10,000 net, April -4,000;
    a credit note, by contrast, counts as collected, not as a negative sale."""
    customer = CustomerFactory()
    big = issued_invoice(customer, "10000.00", invoice_date=date(2026, 3, 5))
    small = issued_invoice(customer, "4000.00", invoice_date=date(2026, 3, 6))
    issued_invoice(customer, "6000.00", invoice_date=date(2026, 4, 2))
    actor = Actor.system("test")
    invoice_void(invoice=small, actor=actor, void_date=date(2026, 3, 20))
    invoice_void(invoice=big, actor=actor, void_date=date(2026, 4, 8))
    sums, months, _ = month_sums(months=2, stored=False)
    (series,) = metric_series(sums=sums, months=months, in_base=False)
    march, april = series.months
    assert march.credit_sales == D("10000.00")
    assert march.receivables == D("10000.00")
    assert april.credit_sales == D("-4000.00")
    assert april.receivables == D("6000.00")
