"""The XLSX export as finance opens it in Excel: a title naming the organization,
the report and the as-of date, a frozen header, amounts and dates formatted, and
a totals row per currency that adds up to the rows above it."""

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
import time_machine

from reports import exports
from reports.services import export_write
from tests.factories import CustomerFactory, issued_invoice


@pytest.fixture
def workbook(tenant):
    euro = CustomerFactory(currency="EUR")
    yen = CustomerFactory(currency="JPY")
    for day, amount in ((1, "1200.50"), (10, "80.25"), (20, "19.30")):
        issued_invoice(
            euro, amount, invoice_date=date(2026, 5, day), due_date=date(2026, 6, day)
        )
    for amount in ("15000", "2500"):
        issued_invoice(
            yen, amount, invoice_date=date(2026, 5, 3), due_date=date(2026, 6, 3)
        )
    with time_machine.travel(date(2026, 7, 1)):
        spec = exports.export_spec("aging_invoices", "xlsx", {"as_of": "2026-06-30"})
        stream = io.BytesIO()
        assert export_write(spec, stream) == 5
    return openpyxl.load_workbook(io.BytesIO(stream.getvalue())).active


def test_title_names_the_organization_report_and_as_of_date(tenant, workbook):
    title, label, as_of = (cell.value for cell in workbook[1][:3])
    assert title == f"{tenant.name} · Aging invoices"
    assert label == "As of"
    assert as_of.date() == date(2026, 6, 30)
    assert workbook[2][0].value == "Invoice"
    assert workbook.freeze_panes == "A3"  # the title and header stay in view


def test_totals_per_currency_add_up_to_the_rows(workbook):
    header = [cell.value for cell in workbook[2]]
    currency, open_at = header.index("Currency"), header.index("Open amount")
    total_at = header.index("Invoice total")
    rows = [[cell.value for cell in row] for row in workbook.iter_rows(min_row=3)]
    invoices = [row for row in rows if row[0] != "Total"]
    totals = {row[currency]: row for row in rows if row[0] == "Total"}
    assert set(totals) == {"EUR", "JPY"}
    assert rows[-2:] == [totals["EUR"], totals["JPY"]]  # after the invoices
    for code, expected in (("EUR", Decimal("1300.05")), ("JPY", Decimal(17500))):
        mine = [row for row in invoices if row[currency] == code]
        for at in (open_at, total_at):
            assert Decimal(str(totals[code][at])) == expected
            assert sum(Decimal(str(row[at])) for row in mine) == expected


def test_amounts_and_dates_carry_number_formats(workbook):
    header = [cell.value for cell in workbook[2]]
    formats = {
        row[header.index("Currency")].value: row
        for row in workbook.iter_rows(min_row=3)
        if row[0].value != "Total"
    }
    euro, yen = formats["EUR"], formats["JPY"]
    assert euro[header.index("Open amount")].number_format == "#,##0.00"
    assert yen[header.index("Open amount")].number_format == "#,##0"  # no minor unit
    assert euro[header.index("Due date")].number_format == "yyyy-mm-dd"
    assert euro[header.index("Due date")].value.date() == date(2026, 6, 20)
