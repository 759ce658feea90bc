"""Import of customers, open invoices and settled invoice history (CSV and XLSX)."""

import csv
import io
import random
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from invoicing.imports import services
from invoicing.imports.parsing import RowError
from invoicing.imports.services import import_job_create, import_run
from invoicing.imports.tasks import run_import
from invoicing.models import ImportedSettlement, Invoice, InvoiceLine, LedgerEntry
from invoicing.selectors import customer_balances, invoice_open_amount
from invoicing.services.invoices import LineInput, invoice_create, invoice_issue
from o2c.checks import run_ledger_checks
from o2c.models import AuditEvent, Event, Job, Role
from o2c.tenancy import tenant_context
from orders.models import Customer
from tests.conftest import api_client_for
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    PaymentTermFactory,
    issued_invoice,
    member,
)

HEADER = "number,customer,invoice_date,due_date,amount,currency,settled_date"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def term(tenant):
    return PaymentTermFactory(name="Net 30")


@pytest.fixture
def customers(term):
    return [
        CustomerFactory(number=f"C{n:03d}", currency="EUR", payment_term=term)
        for n in range(100)
    ]


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Upload ``content`` and run the import job the way the worker would."""

    def run(content, *, kind="invoices", name="history.csv", **options):
        with django_capture_on_commit_callbacks(execute=True):
            job = import_job_create(
                kind=kind, file=upload(name, content), actor=SYSTEM, **options
            )
        job.refresh_from_db()
        return job

    return run


def upload(name: str, content) -> SimpleUploadedFile:
    if isinstance(content, str):
        content = content.encode()
    return SimpleUploadedFile(name, content)


def csv_text(header: str, *rows: str) -> str:
    return "\n".join([header, *rows]) + "\n"


def history(rows: int, *, seed: int = 7):
    """A history export: a quarter open, half settled, a quarter partly settled.

    Returns the CSV and what each (customer, currency) still owes.
    """
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["Invoice No.", "Customer", "Invoice Date", "Due Date", "Amount",
         "Currency", "Settled Date", "Open Amount", "Disputed"]
    )  # fmt: skip
    owed = defaultdict(Decimal)
    for n in range(rows):
        customer = f"C{n % 100:03d}"
        currency = "USD" if n % 3 == 0 else "EUR"
        invoice_date = date(2023, 1, 1) + timedelta(days=n % 700)
        amount = Decimal(rng.randint(1_00, 50_000_00)) / 100
        settled, open_amount = "", ""
        if n % 4 in (0, 1):
            settled = (invoice_date + timedelta(days=rng.randint(0, 90))).isoformat()
        elif n % 4 == 3:
            settled = (invoice_date + timedelta(days=10)).isoformat()
            open_amount = str((amount / 3).quantize(Decimal("0.01")))
            owed[customer, currency] += Decimal(open_amount)
        else:
            owed[customer, currency] += amount
        writer.writerow(
            [f"OLD-{n:06d}", customer, invoice_date.isoformat(),
             (invoice_date + timedelta(days=30)).isoformat(), f"{amount:.2f}",
             currency, settled, open_amount, "yes" if n % 97 == 0 else ""]
        )  # fmt: skip
    return out.getvalue(), owed


# --- the 10,000-row history --------------------------------------------------------


def test_ten_thousand_rows_of_history_import_with_a_consistent_ledger(customers, run):
    content, owed = history(10_000)

    started, cpu_started = time.perf_counter(), time.process_time()
    job = run(content)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started

    print(f"\n10,000-row import: {elapsed:.1f} s wall, {cpu:.1f} s CPU")
    # CPU time, not wall time: several test runs share this machine's cores.
    assert cpu < 45, f"10,000 rows took {cpu:.1f} s of CPU"
    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert job.progress == job.total == 10_000
    assert job.result["created"] == 10_000
    assert job.result["unchanged"] == 0
    assert (job.result["open"], job.result["settled"]) == (2_500, 5_000)
    assert job.result["partially_settled"] == 2_500
    assert len(job.result["disputed"]) == 104  # every 97th row
    assert run_ledger_checks() == []

    invoices = Invoice.objects.filter(source=Invoice.Source.IMPORT)
    assert invoices.count() == 10_000
    assert invoices.filter(status=Invoice.Status.PAID).count() == 5_000
    assert invoices.filter(status=Invoice.Status.PARTIALLY_PAID).count() == 2_500
    assert invoices.filter(status=Invoice.Status.OPEN).count() == 2_500
    assert ImportedSettlement.objects.count() == 7_500
    assert InvoiceLine.objects.filter(description="Imported from history.csv").count()
    for customer in customers:
        balances = {
            b.currency: b.balance
            for b in customer_balances(customer=customer)
            if b.balance
        }
        expected = {
            currency: amount
            for (number, currency), amount in owed.items()
            if number == customer.number
        }
        assert balances == expected, customer.number
    paid = invoices.get(external_id="OLD-000004")
    assert paid.settled_date == paid.imported_settlement.settled_date


def test_a_settled_invoice_is_paid_on_its_settled_date_and_open_before(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    job = run(
        csv_text(
            HEADER,
            "A-1,C1,2024-01-10,2024-02-09,1190.00,EUR,2024-03-05",
            "A-2,C1,2024-01-20,2024-02-19,500.00,,",
        )
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    settled = Invoice.objects.get(external_id="A-1")
    assert settled.number == "A-1"
    assert settled.status == Invoice.Status.PAID
    assert settled.settled_date == date(2024, 3, 5)
    assert settled.imported_settlement.amount == Decimal("1190.00")
    assert invoice_open_amount(invoice=settled, as_of=date(2024, 3, 4)) == Decimal(
        "1190.00"
    )
    assert invoice_open_amount(invoice=settled, as_of=date(2024, 3, 5)) == 0
    kinds = list(
        settled.ledger_entries.order_by("posting_date").values_list(
            "kind", "amount", "posting_date"
        )
    )
    assert kinds == [
        (LedgerEntry.Kind.INVOICE, Decimal("1190.000"), date(2024, 1, 10)),
        (LedgerEntry.Kind.IMPORTED_SETTLEMENT, Decimal("-1190.000"), date(2024, 3, 5)),
    ]
    # Its events show it as imported: issued, already paid on its settled date.
    events = Event.objects.filter(object_type="invoice", object_id=str(settled.pk))
    assert [e.type for e in events.order_by("created", "pk")] == [
        "invoice.created",
        "invoice.issued",
    ]
    assert {(e.data["status"], e.data["settled_date"]) for e in events} == {
        ("paid", "2024-03-05")
    }
    still_open = Invoice.objects.get(external_id="A-2")
    assert still_open.status == Invoice.Status.OPEN
    assert still_open.open_amount == Decimal("500.00")
    assert still_open.currency == "EUR"  # blank currency: the customer's
    assert still_open.due_date == date(2024, 2, 19)
    assert still_open.issued_at is not None
    assert run_ledger_checks() == []


def test_open_amount_settles_the_difference_on_the_settled_date(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    job = run(
        csv_text(
            "number,customer,invoice_date,due_date,amount,open_amount,settled_date",
            "P-1,C1,2024-01-10,2024-02-09,1000.00,250.00,2024-02-01",
            "P-2,C1,2024-01-10,2024-02-09,400.00,0,2024-02-03",
            "P-3,C1,2024-01-10,2024-02-09,300.00,300.00,",
        )
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    partial = Invoice.objects.get(external_id="P-1")
    assert partial.status == Invoice.Status.PARTIALLY_PAID
    assert partial.open_amount == Decimal("250.00")
    assert partial.imported_settlement.amount == Decimal("750.00")
    assert partial.imported_settlement.settled_date == date(2024, 2, 1)
    assert Invoice.objects.get(external_id="P-2").status == Invoice.Status.PAID
    assert Invoice.objects.get(external_id="P-3").status == Invoice.Status.OPEN
    assert job.result["totals"] == {
        "EUR": {"amount": "1700.00", "open_amount": "550.00"}
    }


# --- all or nothing ----------------------------------------------------------------


def test_a_malformed_row_fails_the_job_naming_line_and_column_and_imports_nothing(
    tenant, run
):
    CustomerFactory(number="C1", currency="EUR")
    job = run(
        csv_text(
            "Invoice No,Customer,Invoice Date,Due Date,Amount,Currency",
            "B-1,C1,2024-01-10,2024-02-09,100.00,EUR",
            "B-2,C1,2024-02-30,2024-03-09,100.00,EUR",
            'B-3,C1,2024-01-10,2024-02-09,"12,50",EUR',
            "B-4,C404,2024-01-10,2024-02-09,100.00,EUR",
            "B-5,C1,2024-01-10,2024-01-09,100.005,EUR",
            "B-1,C1,2024-01-10,2024-02-09,100.00,XYZ",
        )
    )

    assert job.status == Job.Status.FAILED
    errors = [RowError(**error) for error in job.errors]
    assert [(e.line, e.column) for e in errors] == [
        (3, "Invoice Date"),
        (4, "Amount"),
        (5, "Customer"),
        (6, "Due Date"),
        (6, "Amount"),
        (7, "Invoice No"),
        (7, "Currency"),
    ]
    assert str(errors[1]) == 'line 4, column "Amount": "12,50" is not a number.'
    assert "C404" in errors[2].message
    assert "2 decimal places" in errors[4].message
    assert "already on line 2" in errors[5].message
    assert job.result["created"] == 0
    assert job.result["error_count"] == 7
    assert Invoice.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


def test_errors_are_collected_up_to_two_hundred(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    rows = [f"E-{n},C1,2024-01-10,2024-02-09,abc,EUR" for n in range(250)]
    job = run(csv_text("number,customer,invoice_date,due_date,amount,currency", *rows))

    assert job.status == Job.Status.FAILED
    assert len(job.errors) == 200
    assert job.result["error_count"] == 250
    assert job.result["errors_truncated"] is True
    assert job.errors[-1]["line"] == 201


def test_a_missing_required_column_is_named_on_line_one(tenant, run):
    job = run(csv_text("number,customer,invoice_date,amount", "X,C1,2024-01-01,1"))

    assert job.status == Job.Status.FAILED
    assert job.errors == [
        {
            "line": 1,
            "column": "due_date",
            "message": 'Required column "due_date" is missing (also accepted: '
            "due, due_on, payment_due, net_due_date, …).",
            "source": "history.csv",
        }
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin.csv", "number,name\nK-1,Müller".encode("cp1252"), "not UTF-8"),
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "save it as .xlsx"),
        ("empty.csv", "\n\n", "The file is empty."),
        ("no-header.csv", ",,\nA-1,C1,2024-01-01", "line 1 must name the columns"),
    ],
)
def test_unreadable_files_fail_with_a_clear_message(
    tenant, run, name, content, message
):
    job = run(content, name=name if name != "old.xls" else "old.xlsx")

    assert job.status == Job.Status.FAILED
    assert message in job.errors[0]["message"]
    assert job.errors[0]["line"] is None


def test_the_closer_of_two_column_names_wins_and_the_other_is_ignored(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    job = run(
        csv_text(
            "number,customer,Date,Invoice Date,due_date,amount,Notes",
            "G-1,C1,2020-01-01,2024-01-10,2024-02-09,10.00,call first",
        )
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert Invoice.objects.get(external_id="G-1").invoice_date == date(2024, 1, 10)
    assert job.result["ignored_columns"] == ["history.csv: Date", "history.csv: Notes"]


def test_progress_is_written_as_rows_are_checked_then_imported(
    transactional_db, tenant, run, monkeypatch
):
    # Committed rows: on PostgreSQL, progress is written through a second
    # connection, which cannot see a job created inside an open test transaction.
    CustomerFactory(number="C1", currency="EUR")
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(services, "WRITE_CHUNK", 1)
    seen = []
    write = services._Progress._write

    def write_and_look(progress):
        write(progress)
        stored = Job.objects.get(pk=progress.job.pk)
        seen.append((stored.result["phase"], stored.progress, stored.total))

    monkeypatch.setattr(services._Progress, "_write", write_and_look)
    run(
        csv_text(
            HEADER,
            "P-1,C1,2024-01-10,2024-02-09,1.00,EUR,",
            "P-2,C1,2024-01-10,2024-02-09,2.00,EUR,",
        )
    )

    assert seen == [
        ("checking", 1, 2),
        ("checking", 2, 2),
        ("importing", 1, 2),
        ("importing", 2, 2),
    ]


def test_european_dates_need_the_explicit_date_format(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    content = csv_text(
        "number;customer;invoice_date;due_date;amount",
        "D-1;C1;31.01.2024;01.03.2024;100.00",
    )

    refused = run(content)
    accepted = run(content, date_format="d.m.Y")

    assert refused.status == Job.Status.FAILED
    assert refused.errors[0]["line"] == 2
    assert "YYYY-MM-DD" in refused.errors[0]["message"]
    assert accepted.status == Job.Status.SUCCEEDED, accepted.errors
    invoice = Invoice.objects.get(external_id="D-1")
    assert (invoice.invoice_date, invoice.due_date) == (
        date(2024, 1, 31),
        date(2024, 3, 1),
    )


# --- idempotency -------------------------------------------------------------------


def test_the_same_file_twice_changes_nothing(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    content = csv_text(
        HEADER,
        "S-1,C1,2024-01-10,2024-02-09,100.00,EUR,2024-01-30",
        "S-2,C1,2024-01-11,2024-02-10,200.00,EUR,",
    )
    first = run(content)
    entries = LedgerEntry.objects.count()

    second = run(content)

    assert first.status == second.status == Job.Status.SUCCEEDED
    assert second.result["created"] == 0
    assert second.result["duplicate_of"] == first.pk
    assert "already imported" in second.result["message"].lower()
    assert Invoice.objects.count() == 2
    assert LedgerEntry.objects.count() == entries


def test_rows_already_imported_are_unchanged_in_another_file(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    run(csv_text(HEADER, "R-1,C1,2024-01-10,2024-02-09,100.00,EUR,"))

    job = run(
        csv_text(
            HEADER,
            "R-1,C1,2024-01-10,2024-02-09,100.00,EUR,",
            "R-2,C1,2024-01-12,2024-02-11,50.00,EUR,",
        ),
        name="export-2.csv",
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert (job.result["created"], job.result["unchanged"]) == (1, 1)
    assert Invoice.objects.count() == 2
    assert Invoice.objects.get(external_id="R-1").open_amount == Decimal("100.00")


def test_rows_written_meanwhile_by_another_import_count_as_unchanged(
    tenant, run, monkeypatch
):
    customer = CustomerFactory(number="C1", currency="EUR")
    check_rows = services.plan_import

    def plan_then_race(*args, **kwargs):
        plan = check_rows(*args, **kwargs)
        if not Invoice.objects.filter(external_id="M-1").exists():
            # Another import writes M-1 after this one checked its rows.
            invoice = invoice_create(
                customer=customer,
                invoice_date=date(2024, 1, 10),
                external_id="M-1",
                lines=[LineInput("Goods", Decimal(1), Decimal("100.00"))],
                actor=SYSTEM,
            )
            invoice_issue(invoice=invoice, actor=SYSTEM)
        return plan

    monkeypatch.setattr(services, "plan_import", plan_then_race)
    job = run(
        csv_text(
            HEADER,
            "M-1,C1,2024-01-10,2024-02-09,100.00,EUR,",
            "M-2,C1,2024-01-10,2024-02-09,40.00,EUR,",
        )
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert (job.result["created"], job.result["unchanged"]) == (1, 1)
    assert Invoice.objects.filter(external_id="M-1").count() == 1
    assert run_ledger_checks() == []


def test_running_a_finished_job_again_is_a_no_op(tenant, run):
    CustomerFactory(number="C1", currency="EUR")
    job = run(csv_text(HEADER, "T-1,C1,2024-01-10,2024-02-09,100.00,EUR,"))

    run_import(tenant.pk, job.pk)
    assert import_run(job_id=job.pk) is None

    assert Invoice.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


# --- numbering ---------------------------------------------------------------------


def test_old_numbers_that_clash_with_ours_get_our_next_number(tenant, run):
    customer = CustomerFactory(number="C1", currency="EUR")
    ours = issued_invoice(customer, "10.00")  # INV-000001
    job = run(
        csv_text(
            HEADER,
            f"{ours.number},C1,2024-01-10,2024-02-09,100.00,EUR,",
            "INV-000777,C1,2024-01-10,2024-02-09,100.00,EUR,",
            "2023/0001,C1,2024-01-10,2024-02-09,100.00,EUR,",
        )
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert job.result["renumbered"] == [
        {"external_id": "INV-000001", "number": "INV-000002"},
        {"external_id": "INV-000777", "number": "INV-000003"},
    ]
    assert Invoice.objects.get(external_id="2023/0001").number == "2023/0001"
    assert Invoice.objects.get(external_id="INV-000777").number == "INV-000003"


# --- customers and file sets -------------------------------------------------------


def test_customers_import_with_terms_limits_and_collector(tenant, term, run):
    collector = member(tenant, Role.COLLECTOR, email="anna@example.com")
    content = csv_text(
        "Customer No,Name,Email,Currency,Payment Terms,Credit Limit,Segment,"
        "Collector,Risk",
        "K-1,Acme GmbH,ap@acme.example,EUR,net 30,25000.00,Enterprise,"
        "anna@example.com,high",
        "K-2,Beta Ltd,,GBP,Net 30,,SMB,,",
    )

    job = run(content, kind="customers", name="customers.csv")

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert (job.result["created"], job.result["unchanged"]) == (2, 0)
    acme = Customer.objects.get(number="K-1")
    assert acme.credit_limit == Decimal("25000.00")
    assert acme.payment_term == term
    assert acme.collector == collector
    assert (acme.segment, acme.risk_class) == ("Enterprise", "high")
    beta = Customer.objects.get(number="K-2")
    assert (beta.currency, beta.credit_limit, beta.risk_class) == (
        "GBP",
        None,
        "medium",
    )
    assert AuditEvent.objects.filter(action="imported").count() == 2

    again = run(content.replace("Beta Ltd", "Beta Limited"), kind="customers")
    assert (again.result["created"], again.result["unchanged"]) == (0, 2)
    assert Customer.objects.get(number="K-2").name == "Beta Ltd"


def test_customer_rows_are_checked_too(tenant, term, run):
    job = run(
        csv_text(
            "number,name,email,currency,payment_term,credit_limit",
            "K-1,,not-an-email,EUR,Net 45,-5",
            "K-1,Dup,,ZZZ,Net 30,",
        ),
        kind="customers",
    )

    assert job.status == Job.Status.FAILED
    assert [(e["line"], e["column"]) for e in job.errors] == [
        (2, "name"),
        (2, "email"),
        (2, "payment_term"),
        (2, "credit_limit"),
        (3, "number"),
        (3, "currency"),
    ]
    assert job.errors[2]["message"] == 'No payment term named "Net 45" (known: Net 30).'

    assert Customer.objects.count() == 0


def test_invoices_may_name_customers_uploaded_with_them(tenant, term, run):
    customers = csv_text(
        "number,name,currency,payment_term", "N-1,New Customer,USD,Net 30"
    )
    job = run(
        csv_text(HEADER, "F-1,N-1,2024-01-10,2024-02-09,75.50,,"),
        customers_file=upload("customers.csv", customers),
    )

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert job.result["customers_created"] == 1
    invoice = Invoice.objects.get(external_id="F-1")
    assert invoice.customer.number == "N-1"
    assert invoice.currency == "USD"


def test_a_bad_invoice_row_also_leaves_the_uploaded_customers_out(tenant, term, run):
    customers = csv_text(
        "number,name,currency,payment_term", "N-1,New Customer,USD,Net 30"
    )
    job = run(
        csv_text(HEADER, "F-1,N-1,2024-01-10,2024-02-09,-1.00,,"),
        customers_file=upload("customers.csv", customers),
    )

    assert job.status == Job.Status.FAILED
    assert job.errors == [
        {
            "line": 2,
            "column": "amount",
            "message": "The amount must be positive (credit notes are not imported "
            "here).",
            "source": "history.csv",
        }
    ]
    assert Customer.objects.count() == 0


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_workbook_with_customers_and_invoices_sheets(tenant, term, run):
    content = xlsx(
        {
            "Customers": [
                ["Customer No", "Name", "Currency", "Terms"],
                ["X-1", "Excel Customer", "JPY", "Net 30"],
            ],
            "Invoices": [
                ["Invoice", "Customer", "Invoice date", "Due date", "Amount",
                 "Paid on"],
                ["XL-1", "X-1", date(2024, 5, 2), date(2024, 6, 1), 125000, None],
                ["XL-2", "X-1", date(2024, 5, 3), date(2024, 6, 2), 99999,
                 date(2024, 5, 20)],
                [None, None, None, None, None, None],
            ],
        }
    )  # fmt: skip

    job = run(content, name="history.xlsx")

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert (job.result["created"], job.result["customers_created"]) == (2, 1)
    first = Invoice.objects.get(external_id="XL-1")
    assert (first.currency, first.total, first.invoice_date) == (
        "JPY",
        Decimal(125000),
        date(2024, 5, 2),
    )
    paid = Invoice.objects.get(external_id="XL-2")
    assert (paid.status, paid.settled_date) == (Invoice.Status.PAID, date(2024, 5, 20))
    assert run_ledger_checks() == []


def test_an_xlsx_amount_with_cents_in_yen_is_refused(tenant, run):
    CustomerFactory(number="C1", currency="JPY")
    content = xlsx(
        {
            "Sheet1": [
                ["number", "customer", "invoice_date", "due_date", "amount"],
                ["Y-1", "C1", "2024-01-10", "2024-02-09", 10.5],
            ]
        }
    )

    job = run(content, name="yen.xlsx")

    assert job.status == Job.Status.FAILED
    assert (job.errors[0]["line"], job.errors[0]["column"]) == (2, "amount")
    assert "0 decimal places" in job.errors[0]["message"]


# --- API ---------------------------------------------------------------------------


def test_api_upload_answers_202_and_the_job_reports_progress(
    org, api, django_capture_on_commit_callbacks
):
    with tenant_context(org):
        CustomerFactory(number="C1", currency="EUR")
    content = csv_text(
        HEADER,
        "API-1,C1,2024-01-10,2024-02-09,100.00,EUR,2024-01-31",
        "API-2,C1,2024-01-10,2024-02-09,50.00,EUR,",
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/imports/",
            {"file": upload("api.csv", content), "kind": "invoices"},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["kind"] == "invoices"
    assert response["Location"].endswith(f"/api/v1/imports/{body['id']}/")
    detail = api.get(f"/api/v1/imports/{body['id']}/").json()
    assert detail["status"] == "succeeded"
    assert (detail["progress"], detail["total"], detail["percent"]) == (2, 2, 100)
    assert detail["result"]["created"] == 2
    listed = api.get("/api/v1/imports/?kind=invoices").json()["results"]
    assert [job["id"] for job in listed] == [body["id"]]


def test_api_failed_job_lists_errors_with_line_and_column(
    org, api, django_capture_on_commit_callbacks
):
    content = csv_text(HEADER, "API-1,C404,2024-01-10,2024-02-09,100.00,EUR,")
    with django_capture_on_commit_callbacks(execute=True):
        job_id = api.post(
            "/api/v1/imports/",
            {"file": upload("bad.csv", content), "kind": "invoices"},
            format="multipart",
        ).json()["id"]

    detail = api.get(f"/api/v1/imports/{job_id}/").json()

    assert detail["status"] == "failed"
    assert detail["errors"][0]["line"] == 2
    assert detail["errors"][0]["column"] == "customer"
    assert detail["errors"][0]["text"].startswith('line 2, column "customer": ')


def test_api_upload_replays_for_the_same_idempotency_key(org, api):
    def post():
        return api.post(
            "/api/v1/imports/",
            {"file": upload("a.csv", csv_text(HEADER)), "kind": "invoices"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    first, second = post(), post()

    assert first.status_code == second.status_code == 202
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    with tenant_context(org):
        assert Job.objects.count() == 1


def test_another_organization_cannot_see_the_job(org, api, other_api):
    response = api.post(
        "/api/v1/imports/",
        {"file": upload("a.csv", csv_text(HEADER)), "kind": "invoices"},
        format="multipart",
    )
    job_id = response.json()["id"]

    assert other_api.get(f"/api/v1/imports/{job_id}/").status_code == 404
    assert other_api.get("/api/v1/imports/").json()["results"] == []
    assert api.get(f"/api/v1/imports/{job_id}/").status_code == 200


def test_api_refuses_a_file_over_the_size_limit(org, api, monkeypatch):
    monkeypatch.setattr(services, "MAX_UPLOAD_BYTES", 100)

    response = api.post(
        "/api/v1/imports/",
        {"file": upload("big.csv", "x" * 101), "kind": "invoices"},
        format="multipart",
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert "file" in error["fields"]
    with tenant_context(org):
        assert Job.objects.count() == 0


def test_api_upload_needs_the_role_for_the_kind(org):
    viewer = api_client_for(org, Role.VIEWER)
    response = viewer.post(
        "/api/v1/imports/",
        {"file": upload("a.csv", "number\n"), "kind": "customers"},
        format="multipart",
    )
    assert response.status_code == 403


# --- browser -----------------------------------------------------------------------


@pytest.fixture
def browser(org):
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client


def test_browser_upload_then_job_page_polls_until_finished(
    org, browser, django_capture_on_commit_callbacks
):
    with tenant_context(org):
        CustomerFactory(number="C1", currency="EUR")
    page = browser.get("/imports/")
    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' in page.content
    assert b"/imports/templates/invoices.csv" in page.content

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = browser.post(
            "/imports/",
            {
                "kind": "invoices",
                "date_format": "Y-m-d",
                "file": upload(
                    "web.csv",
                    csv_text(HEADER, "W-1,C1,2024-01-10,2024-02-09,abc,EUR,"),
                ),
            },
        )
    assert response.status_code == 302
    job_url = response["Location"]
    queued = browser.get(job_url)
    assert b'hx-trigger="every 1s"' in queued.content

    for callback in enqueued:
        callback()
    finished = browser.get(f"{job_url}status/")
    assert b"hx-trigger" not in finished.content
    assert b"Failed" in finished.content
    assert b"is not a number" in finished.content


def test_a_viewer_sees_no_upload_form_and_cannot_post_one(org):
    client = Client()
    client.force_login(member(org, Role.VIEWER))

    page = client.get("/imports/")
    response = client.post(
        "/imports/",
        {"kind": "invoices", "date_format": "Y-m-d", "file": upload("a.csv", "x")},
    )

    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' not in page.content
    assert response.status_code == 403
    with tenant_context(org):
        assert Job.objects.count() == 0


def test_csv_template_lists_the_columns(browser):
    response = browser.get("/imports/templates/invoices.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    header = response.content.decode().strip()
    assert header == (
        "number,customer,invoice_date,due_date,amount,currency,settled_date,"
        "open_amount,disputed,customer_reference"
    )
