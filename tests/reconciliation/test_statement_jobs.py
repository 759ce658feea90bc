"""The Celery jobs: the matching job and the statement-file import, each safe to
run twice."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.models import Job
from reconciliation.models import BankStatement, StatementLine
from reconciliation.services.matching import lines_match, match_job_run
from reconciliation.services.statements import (
    matching_job_create,
    statement_import_file,
    statement_import_job_create,
    statement_import_run,
)
from tests.factories import SYSTEM, CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement


@pytest.fixture
def account(tenant):
    return main_account()


def test_matching_job_reports_counts_and_a_second_run_is_a_no_op(
    account, django_capture_on_commit_callbacks
):
    invoice = issued_invoice(CustomerFactory(), "75.00", invoice_date=date(2026, 1, 3))
    result = import_statements(
        account,
        [
            statement(
                [
                    entry("75.00", bank_reference="A", remittance=invoice.number),
                    entry("19.99", bank_reference="B", remittance="?"),
                ]
            )
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = matching_job_create(line_ids=result.new_credit_line_ids, actor=SYSTEM)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result["message"] == (
        "1 applied automatically, 1 in the exceptions queue."
    )
    assert match_job_run(job_id=job.pk) is None
    assert Invoice.objects.get(pk=invoice.pk).open_amount == 0


CAMT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-02-03T10:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-02-03T10:00:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-02</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">175.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-02</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">75.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-02-02</Dt></BookgDt><ValDt><Dt>2026-02-02</Dt></ValDt>
<AcctSvcrRef>REF-1</AcctSvcrRef><BkTxCd/>
<NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs>
<RmtInf><Ustrd>INVOICE_NUMBER</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""


def test_statement_file_import_job_imports_once_then_matches(
    account, django_capture_on_commit_callbacks
):
    invoice = issued_invoice(CustomerFactory(), "75.00", invoice_date=date(2026, 1, 3))
    data = CAMT.replace(b"INVOICE_NUMBER", invoice.number.encode())

    jobs = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            jobs.append(
                statement_import_job_create(
                    bank_account=account,
                    file=SimpleUploadedFile("camt053.xml", data),
                    actor=SYSTEM,
                )
            )

    first, second = (Job.objects.get(pk=job.pk) for job in jobs)
    assert first.status == Job.Status.SUCCEEDED, first.result
    assert first.result["created"] == 1
    assert second.result["message"] == "Already imported; nothing new."
    assert statement_import_run(job_id=first.pk) is None
    line = StatementLine.objects.get()
    assert line.status == StatementLine.Status.MATCHED_AUTO
    assert Invoice.objects.get(pk=invoice.pk).open_amount == 0


CSV = (
    "Buchungstag;Betrag;Auftraggeber;IBAN;Verwendungszweck\n"
    "02.02.2026;1.250,00;Hanse Logistik GmbH;DE02120300000000202051;Rechnung {n}\n"
    "03.02.2026;-89,90;Stadtwerke;DE11111111111111111111;Strom\n"
)
MAPPING = {
    "date_column": "Buchungstag",
    "date_format": "%d.%m.%Y",
    "amount_column": "Betrag",
    "decimal_separator": ",",
    "thousands_separator": ".",
    "currency": "EUR",
    "payer_name_column": "Auftraggeber",
    "payer_account_column": "IBAN",
    "reference_columns": ["Verwendungszweck"],
    "delimiter": ";",
}


def test_csv_through_the_accounts_column_mapping(tenant):
    account = main_account(column_mapping=MAPPING)
    invoice = issued_invoice(
        CustomerFactory(), "1250.00", invoice_date=date(2026, 1, 3)
    )
    data = CSV.format(n=invoice.number).encode()

    result = statement_import_file(
        bank_account=account, data=data, filename="umsaetze.csv", actor=SYSTEM
    )
    lines_match(line_ids=result.new_credit_line_ids)

    credit, debit = StatementLine.objects.order_by("booking_date")
    assert (credit.amount, credit.status) == (Decimal("1250.00"), "matched_auto")
    assert (debit.amount, debit.status) == (Decimal("-89.90"), "debit")
    assert Invoice.objects.get(pk=invoice.pk).open_amount == 0


def test_csv_that_does_not_fit_the_mapping_is_refused_and_writes_nothing(tenant):
    account = main_account(column_mapping=MAPPING | {"amount_column": "Umsatz"})
    with pytest.raises(DomainError) as refused:
        statement_import_file(
            bank_account=account,
            data=CSV.format(n="1").encode(),
            filename="umsaetze.csv",
            actor=SYSTEM,
        )
    assert "Umsatz" in refused.value.message
    assert not StatementLine.objects.exists()
    assert not BankStatement.objects.exists()


def test_a_mapping_the_reader_cannot_use_is_refused_when_saved(tenant):
    with pytest.raises(DomainError, match="date_column"):
        main_account(column_mapping={"amount_column": "Betrag", "currency": "EUR"})


def test_a_binary_file_fails_its_job_with_a_message_not_a_crash(
    account, django_capture_on_commit_callbacks
):
    # The parser's message quotes the file's first bytes, NUL included, which
    # PostgreSQL's jsonb refuses: the job stayed "running" with no result.
    data = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00"
    with django_capture_on_commit_callbacks(execute=True):
        job = statement_import_job_create(
            bank_account=account,
            file=SimpleUploadedFile("picture.bai", data),
            file_format="bai2",
            actor=SYSTEM,
        )
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.result["message"].startswith("Nothing was imported: line 1:")
    assert "\x00" not in job.result["message"]
    assert "\ufffd" in job.result["message"]
    assert not StatementLine.objects.exists()
