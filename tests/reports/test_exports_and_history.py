"""Exports keep memory flat as data grows; customer history, statement and cash
forecast by hand."""

import gc
import io
import tempfile
import tracemalloc
from datetime import date
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
import time_machine

from invoicing.models import InvoicePrediction
from invoicing.services.invoices import LineInput, credit_note_create, fee_post
from o2c.models import Organization
from o2c.tenancy import tenant_context
from reconciliation.services.payments import write_off_create
from reports import exports
from reports.selectors.forecast import cash_forecast, forecast_invoices
from reports.selectors.history import payment_behaviour, statement
from reports.services import export_write, metrics_refresh
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False):
        yield


def _open_invoices(count: int, start: int = 0):
    customer = CustomerFactory()
    for index in range(start, start + count):
        issued_invoice(
            customer,
            f"{index % 97 + 1}.25",
            invoice_date=date(2026, 5, 1 + index % 28),
            due_date=date(2026, 6, 1 + index % 28),
        )


def _peak(spec, monkeypatch) -> tuple[int, int]:
    monkeypatch.setattr(exports, "CHUNK_SIZE", 50)
    gc.collect()
    tracemalloc.start()
    with tempfile.TemporaryFile() as stream:
        rows = export_write(spec, stream)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return rows, peak


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_aging_invoice_export_memory_stays_flat(tenant, monkeypatch, fmt):
    spec = exports.export_spec("aging_invoices", fmt, {})
    _open_invoices(200)
    rows_small, small = _peak(spec, monkeypatch)
    _open_invoices(600, start=200)
    rows_large, large = _peak(spec, monkeypatch)
    assert (rows_small, rows_large) == (200, 800)
    # Four times the rows, about the same memory (chunks of 50 rows).
    assert large < small * 1.3


def test_aging_export_rows_match_the_report(tenant):
    _open_invoices(30)
    received_payment(CustomerFactory(), "5.00", received_date=date(2026, 6, 1))
    spec = exports.export_spec("aging", "xlsx", {"buckets": "30,60"})
    stream = io.BytesIO()
    assert export_write(spec, stream) == 2
    sheet = openpyxl.load_workbook(io.BytesIO(stream.getvalue())).active
    # Under the title row; the totals row (one currency) comes last.
    rows = list(sheet.values)[1:-1]
    assert rows[0][:6] == (
        "Customer",
        "Customer number",
        "Currency",
        "Current",
        "1\u201330",
        "31\u201360",
    )
    assert sum(D(str(row[7])) for row in rows[1:]) == sum(
        D(f"{i % 97 + 1}.25") for i in range(30)
    )
    assert sorted(D(str(row[9])) for row in rows[1:]) == [D(0), D("5")]


def test_invoice_list_export_has_days_to_pay(tenant):
    customer = CustomerFactory()
    invoice = issued_invoice(
        customer, "80.00", invoice_date=date(2026, 5, 1), due_date=date(2026, 5, 31)
    )
    received_payment(
        customer,
        "80.00",
        received_date=date(2026, 6, 10),
        allocations=[(invoice, "80.00")],
    )
    spec = exports.export_spec("customer_history", "csv", {"customer": customer.pk})
    stream = io.BytesIO()
    export_write(spec, stream)
    frame = pd.read_csv(io.BytesIO(stream.getvalue()), encoding="utf-8-sig")
    assert frame.loc[0, "Days to pay"] == 40
    assert frame.loc[0, "Days beyond terms"] == 10
    assert frame.loc[0, "Settled date"] == "2026-06-10"


def test_payment_behaviour_by_hand(tenant):
    customer = CustomerFactory()
    early = issued_invoice(
        customer, "10.00", invoice_date=date(2026, 1, 1), due_date=date(2026, 1, 31)
    )
    late = issued_invoice(
        customer, "10.00", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 3)
    )
    issued_invoice(customer, "10.00", invoice_date=date(2026, 6, 1))  # open
    received_payment(
        customer,
        "10.00",
        received_date=date(2026, 1, 21),
        allocations=[(early, "10.00")],
    )
    received_payment(
        customer,
        "10.00",
        received_date=date(2026, 3, 23),
        allocations=[(late, "10.00")],
    )
    behaviour = payment_behaviour(customer=customer)
    assert behaviour.paid_invoices == 2
    assert behaviour.average_days_to_pay == D("35.0")  # (20 + 50) / 2
    assert behaviour.average_days_late == D("5.0")  # (-10 + 20) / 2
    assert behaviour.on_time_share == D("50.0")


def test_statement_by_hand(tenant):
    customer = CustomerFactory()
    old = issued_invoice(
        customer, "500.00", invoice_date=date(2026, 3, 10), due_date=date(2026, 4, 9)
    )
    new = issued_invoice(
        customer, "200.00", invoice_date=date(2026, 5, 5), due_date=date(2026, 6, 4)
    )
    received_payment(
        customer,
        "450.00",
        received_date=date(2026, 5, 12),
        allocations=[(old, "300.00")],
    )
    credit_note_create(
        invoice=new,
        credit_date=date(2026, 5, 20),
        reason="Price",
        lines=[LineInput("Price", D(1), D("20.00"))],
        actor=SYSTEM,
    )
    fee_post(
        invoice=old,
        amount=D("5.00"),
        posting_date=date(2026, 5, 25),
        memo="Reminder fee",
        document_type="test.fee",
        document_id=1,
        actor=SYSTEM,
    )
    write_off_create(
        invoice=new,
        amount=D("0.50"),
        write_off_date=date(2026, 5, 28),
        reason="Rounding",
        actor=SYSTEM,
    )
    result = statement(customer=customer, start=date(2026, 5, 1), end=date(2026, 5, 31))
    assert result.opening_balance == D("500.00")
    assert [(line.kind, line.amount) for line in result.lines] == [
        ("invoice", D("200.00")),
        ("payment", D("-450.00")),  # once, as received; its allocation is no line
        ("credit_note", D("-20.00")),
        ("fee", D("5.00")),
        ("write_off", D("-0.50")),
    ]
    assert [line.balance for line in result.lines][-1] == D("234.50")
    assert result.closing_balance == D("234.50")
    assert result.category_totals == {
        "invoices": D("205.00"),
        "credit_notes": D("-20.00"),
        "payments": D("-450.00"),
        "write_offs": D("-0.50"),
        "discounts": D("0.00"),
        "other": D("0.00"),
    }
    (aging,) = result.aging.totals
    # 31 May: old invoice 205.00 left, 52 days late; new 179.50 not yet due;
    # 150.00 of the payment still on account.
    assert aging.buckets == [D("179.50"), D(0), D("205.00"), D(0), D(0)]
    assert aging.unapplied == D("150.00")
    assert aging.net == result.closing_balance
    assert [i.pk for i in result.open_invoices] == [old.pk, new.pk]


def test_cash_forecast_shifts_due_dates_by_history(tenant):
    slow = CustomerFactory()
    for month in (1, 2, 3):
        invoice = issued_invoice(
            slow,
            "10.00",
            invoice_date=date(2026, month, 1),
            due_date=date(2026, month, 10),
        )
        received_payment(
            slow,
            "10.00",
            received_date=date(2026, month, 24),
            allocations=[(invoice, "10.00")],
        )
    prompt = CustomerFactory()
    issued_invoice(
        prompt, "100.00", invoice_date=date(2026, 6, 20), due_date=date(2026, 7, 3)
    )
    issued_invoice(
        slow, "40.00", invoice_date=date(2026, 6, 20), due_date=date(2026, 7, 3)
    )
    issued_invoice(
        slow, "7.00", invoice_date=date(2026, 5, 1), due_date=date(2026, 6, 1)
    )
    metrics_refresh(force=True)  # payment profiles: slow pays 14 days late
    (forecast,) = cash_forecast(weeks=4)
    # Prompt: due 3 July, the organization's 14-day default applies to it too
    # (it has no history of its own): 17 July, week 3. Slow: 3 + 14 = 17 July.
    assert forecast.default_delay_days == 14
    assert [week.amount for week in forecast.weeks] == [D(0), D(0), D("140.00"), D(0)]
    assert forecast.past_expected == D("7.00")  # due 1 June + 14 = 15 June, passed
    assert forecast.total == D("147.00")
    assert [i.open_as_of for i in forecast_invoices(week=None)] == [D("7.00")]


def test_cash_forecast_takes_the_predicted_payment_date(tenant):
    customer = CustomerFactory()
    predicted = issued_invoice(
        customer, "100.00", invoice_date=date(2026, 6, 20), due_date=date(2026, 7, 3)
    )
    unscored = issued_invoice(
        customer, "40.00", invoice_date=date(2026, 6, 29), due_date=date(2026, 7, 3)
    )
    InvoicePrediction.objects.create(
        organization=tenant,
        invoice=predicted,
        run_id=1,
        kind="model",
        as_of=date(2026, 6, 30),
        expected_date=date(2026, 7, 20),  # 20 days from today: week 2
        earliest_date=date(2026, 7, 10),
        latest_date=date(2026, 8, 1),
        expected_days_late=17,
        chance_within_terms=D("0.1"),
        chance_within_30_days=D("0.9"),
    )

    (forecast,) = cash_forecast(weeks=4)

    # The predicted invoice in week 2; the one issued since the scoring on its
    # due date (3 July, week 0: no payment history to shift it by).
    assert [week.amount for week in forecast.weeks] == [
        D("40.00"), D(0), D("100.00"), D(0)
    ]  # fmt: skip
    assert [i.pk for i in forecast_invoices(week=2)] == [predicted.pk]
    assert [i.pk for i in forecast_invoices(week=0)] == [unscored.pk]


def test_organizations_do_not_share_profiles(tenant):
    other = Organization.objects.create(name="Other", slug="other-co")
    with tenant_context(other):
        assert cash_forecast() == []
