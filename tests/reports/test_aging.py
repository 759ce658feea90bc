"""Aging on small books built through the services, checked by hand."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from invoicing.services.invoices import LineInput, credit_note_create, invoice_void
from o2c.errors import DomainError
from o2c.models import FxRate
from reconciliation.services.payments import allocation_create
from reports.selectors.aging import AgingFilters, aging_invoices, aging_report
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

D = Decimal
TODAY = date(2026, 6, 30)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False):
        yield


def _due(days_past_due: int) -> date:
    return TODAY - timedelta(days=days_past_due)


def _invoice(customer, amount, days_past_due, **kwargs):
    due = _due(days_past_due)
    return issued_invoice(
        customer,
        amount,
        invoice_date=min(due, TODAY) - timedelta(days=30)
        if days_past_due >= 0
        else TODAY,
        due_date=due,
        **kwargs,
    )


def _totals(**kwargs):
    report = aging_report(group_by="currency", **kwargs)
    return {line.currency: line for line in report.totals}


def test_bucket_edges_by_days_past_due(tenant):
    customer = CustomerFactory()
    # due today and due tomorrow are current; 1 and 30 days late are 1-30; ...
    for amount, days in [
        ("1.00", 0),
        ("2.00", -1),
        ("10.00", 1),
        ("20.00", 30),
        ("100.00", 31),
        ("200.00", 60),
        ("1000.00", 61),
        ("2000.00", 90),
        ("10000.00", 91),
    ]:
        _invoice(customer, amount, days)
    (eur,) = aging_report(group_by="currency").totals
    assert eur.buckets == [
        D("3.00"),
        D("30.00"),
        D("300.00"),
        D("3000.00"),
        D("10000.00"),
    ]
    assert eur.total == D("13333.00")
    assert eur.overdue == D("13330.00")
    custom = aging_report(group_by="currency", boundaries=[15, 45]).totals[0]
    assert custom.buckets == [D("3.00"), D("10.00"), D("120.00"), D("13200.00")]


def test_unapplied_cash_is_beside_the_buckets_and_reduces_the_net(tenant):
    customer = CustomerFactory()
    invoice = _invoice(customer, "500.00", 10)
    received_payment(
        customer, "700.00", received_date=TODAY, allocations=[(invoice, "200.00")]
    )
    (line,) = aging_report().lines
    assert line.key == customer.pk
    assert line.buckets == [D("0.00"), D("300.00"), D("0.00"), D("0.00"), D("0.00")]
    assert line.unapplied == D("500.00")
    assert line.net == D("-200.00")


def test_customer_with_only_cash_on_account_is_listed(tenant):
    customer = CustomerFactory()
    received_payment(customer, "80.00", received_date=TODAY)
    (line,) = aging_report().lines
    assert line.total == 0 and line.unapplied == D("80.00")


def test_past_aging_reproduces_history_after_a_later_payment(tenant):
    customer = CustomerFactory()
    invoice = issued_invoice(
        customer, "1000.00", invoice_date=date(2026, 3, 1), due_date=date(2026, 3, 31)
    )
    received_payment(
        customer,
        "400.00",
        received_date=date(2026, 4, 20),
        allocations=[(invoice, "400.00")],
    )
    received_payment(
        customer,
        "600.00",
        received_date=date(2026, 6, 10),
        allocations=[(invoice, "600.00")],
    )
    assert _totals() == {}  # paid today
    march = _totals(as_of=date(2026, 3, 15))["EUR"]
    assert march.buckets[0] == D("1000.00")  # not yet due
    april = _totals(as_of=date(2026, 4, 30))["EUR"]
    assert april.buckets == [D(0), D("600.00"), D(0), D(0), D(0)]  # 30 days late
    may = _totals(as_of=date(2026, 5, 30))["EUR"]
    assert may.buckets == [D(0), D(0), D("600.00"), D(0), D(0)]  # 60 days late
    june = _totals(as_of=date(2026, 5, 31))["EUR"]
    assert june.buckets == [D(0), D(0), D(0), D("600.00"), D(0)]  # 61 days late
    drilled = aging_invoices(as_of=date(2026, 4, 30))
    assert [(i.pk, i.open_as_of) for i in drilled] == [(invoice.pk, D("600.00"))]
    before_issue = _totals(as_of=date(2026, 2, 28))
    assert before_issue == {}


def test_credit_notes_and_voids_as_of_their_dates(tenant):
    customer = CustomerFactory()
    credited = issued_invoice(
        customer, "300.00", invoice_date=date(2026, 5, 1), due_date=date(2026, 5, 31)
    )
    credit_note_create(
        invoice=credited,
        credit_date=date(2026, 6, 5),
        reason="Damaged",
        lines=[LineInput("Damaged", D(1), D("100.00"))],
        actor=SYSTEM,
    )
    voided = issued_invoice(
        customer, "50.00", invoice_date=date(2026, 5, 2), due_date=date(2026, 6, 1)
    )
    invoice_void(invoice=voided, actor=SYSTEM, void_date=date(2026, 6, 20))
    assert _totals()["EUR"].total == D("200.00")
    assert _totals(as_of=date(2026, 6, 4))["EUR"].total == D("350.00")
    assert _totals(as_of=date(2026, 6, 19))["EUR"].total == D("250.00")
    fast = aging_report(use_ledger=False).lines
    ledger = aging_report(use_ledger=True).lines
    assert [(x.buckets, x.unapplied) for x in fast] == [
        (x.buckets, x.unapplied) for x in ledger
    ]


def test_back_dated_allocation_changes_the_past(tenant):
    """Cash received on 10 June and applied on 25 June: on 15 June it was cash on
    account, and the invoice still open."""
    customer = CustomerFactory()
    invoice = _invoice(customer, "100.00", 40)
    payment = received_payment(customer, "100.00", received_date=date(2026, 6, 10))
    allocation_create(
        payment=payment,
        invoice=invoice,
        amount=D("100.00"),
        allocation_date=date(2026, 6, 25),
        actor=SYSTEM,
    )
    mid_june = _totals(as_of=date(2026, 6, 15))["EUR"]
    assert mid_june.total == D("100.00") and mid_june.unapplied == D("100.00")
    assert mid_june.net == 0
    assert _totals() == {}


def test_cash_on_account_on_a_recent_date_counts_back_from_today(tenant):
    """Cash on account since 5 January: 20 June is nearer today than that first
    receipt, so its cash on account is today's less what was posted after it
    (an allocation on 25 June, a receipt on 28 June)."""
    customer = CustomerFactory()
    other = CustomerFactory()
    invoice = _invoice(customer, "500.00", 20)  # due 10 June
    received_payment(customer, "50.00", received_date=date(2026, 1, 5))
    payment = received_payment(customer, "300.00", received_date=date(2026, 6, 15))
    allocation_create(
        payment=payment,
        invoice=invoice,
        amount=D("120.00"),
        allocation_date=date(2026, 6, 25),
        actor=SYSTEM,
    )
    received_payment(other, "70.00", received_date=date(2026, 6, 28))
    on_20_june = {
        line.key: line for line in aging_report(as_of=date(2026, 6, 20)).lines
    }
    assert set(on_20_june) == {customer.pk}
    line = on_20_june[customer.pk]
    assert line.buckets == [D(0), D("500.00"), D(0), D(0), D(0)]
    assert line.unapplied == D("350.00")
    assert line.net == D("150.00")
    today = {line.key: line for line in aging_report().lines}
    assert (today[customer.pk].total, today[customer.pk].unapplied) == (
        D("380.00"),
        D("230.00"),
    )
    assert today[other.pk].unapplied == D("70.00")


def test_amounts_per_currency_and_converted_to_base(tenant):
    eur_customer = CustomerFactory(currency="EUR")
    usd_customer = CustomerFactory(currency="USD")
    jpy_customer = CustomerFactory(currency="JPY")
    _invoice(eur_customer, "100.00", 5)
    _invoice(usd_customer, "333.33", 5)
    _invoice(usd_customer, "10.00", -3)
    _invoice(jpy_customer, "12345", 45)
    FxRate.objects.create(
        organization=tenant, currency="USD", date=date(2026, 6, 26), rate=D("0.9")
    )
    FxRate.objects.create(
        organization=tenant, currency="USD", date=date(2026, 7, 1), rate=D("5")
    )  # after the as-of date: not used
    FxRate.objects.create(
        organization=tenant, currency="JPY", date=date(2026, 6, 1), rate=D("0.0061")
    )
    totals = _totals()
    assert set(totals) == {"EUR", "JPY", "USD"}
    assert totals["JPY"].buckets[2] == D("12345")
    report = aging_report(in_base=True)
    (base,) = report.totals
    assert base.currency == "EUR"
    # USD 333.33 x 0.9 = 299.997 -> 300.00; JPY 12,345 x 0.0061 = 75.3045 -> 75.30
    assert base.buckets == [D("9.00"), D("400.00"), D("75.30"), D(0), D(0)]
    assert base.total == sum(base.buckets)
    assert {(q.currency, q.rate_date) for q in report.rates} == {
        ("USD", date(2026, 6, 26)),
        ("JPY", date(2026, 6, 1)),
    }
    # Rows are ranked by their converted totals: USD 309.00 before EUR 100.
    assert [line.key for line in report.lines] == [
        usd_customer.pk,
        eur_customer.pk,
        jpy_customer.pk,
    ]
    assert report.lines[0].total == D("309.00")


def test_a_missing_rate_is_an_error_naming_currency_and_date(tenant):
    _invoice(CustomerFactory(currency="USD"), "10.00", 5)
    FxRate.objects.create(
        organization=tenant, currency="USD", date=date(2026, 7, 10), rate=D("0.9")
    )
    with pytest.raises(DomainError) as error:
        aging_report(in_base=True)
    assert error.value.code == "missing_fx_rate"
    assert "USD" in error.value.message and "2026-06-30" in error.value.message
    assert aging_report().totals[0].currency == "USD"  # per currency still works


def test_grouping_and_filters_by_collector_and_segment(tenant):
    from tests.factories import member

    alice = member(tenant, first_name="Alice", last_name="Ames")
    a = CustomerFactory(collector=alice, segment="OEM")
    b = CustomerFactory(segment="Retail")
    _invoice(a, "100.00", 5)
    _invoice(b, "40.00", 50)
    by_collector = {
        line.label: line.total for line in aging_report(group_by="collector").lines
    }
    assert by_collector == {"Alice Ames": D("100.00"), "No collector": D("40.00")}
    retail = aging_report(filters=AgingFilters(segment="Retail"))
    assert [line.key for line in retail.lines] == [b.pk]
    unassigned = aging_report(filters=AgingFilters(unassigned_only=True))
    assert unassigned.totals[0].buckets[2] == D("40.00")


def test_future_as_of_date_is_refused(tenant):
    with pytest.raises(DomainError) as error:
        aging_report(as_of=TODAY + timedelta(days=1))
    assert error.value.field == "as_of"


def test_paging_counts_groups_not_rows(tenant):
    customers = [CustomerFactory() for _ in range(5)]
    for index, customer in enumerate(customers):
        _invoice(customer, f"{index + 1}0.00", 5)
    first = aging_report(page_size=2)
    third = aging_report(page_size=2, page=3)
    assert first.line_count == 5 and first.page_count == 3
    assert [line.total for line in first.lines] == [D("50.00"), D("40.00")]
    assert [line.total for line in third.lines] == [D("10.00")]
    assert aging_report(page_size=2, page=9).lines == []
