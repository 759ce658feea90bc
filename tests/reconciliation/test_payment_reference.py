"""The invoice and the statement of account tell the customer where to pay and
which reference to quote: the organization's default account and an ISO 11649
creditor reference per invoice that the matching engine reads back."""

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from stdnum import iso11649

from invoicing.documents import render_invoice_pdf
from invoicing.references import (
    invoice_number_from_reference,
    payment_reference,
    reference_body,
)
from reconciliation.services.bank_accounts import bank_account_save
from reports.documents import statement_pdf
from reports.selectors.history import statement
from tests.factories import SYSTEM, CustomerFactory, issued_invoice

IBAN = "DE89370400440532013000"


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.fixture
def invoice(tenant):
    bank_account_save(
        name="Main account",
        iban="DE89 3704 0044 0532 0130 00",
        bic="COBADEFFXXX",
        currency="EUR",
        is_default=True,
        actor=SYSTEM,
    )
    return issued_invoice(CustomerFactory(), "250.00", invoice_date=date(2026, 1, 5))


def test_invoice_pdf_shows_reference_with_valid_check_digits_and_iban(invoice):
    text = pdf_text(render_invoice_pdf(invoice))

    reference = payment_reference(invoice)
    assert f"Payment reference: {reference} " in text
    assert iso11649.is_valid(reference)
    assert reference_body(invoice.number) in reference.replace(" ", "")
    assert "DE89 3704 0044 0532 0130 00" in text
    assert "COBADEFFXXX" in text
    # What the customer's bank hands back finds this invoice again.
    assert invoice_number_from_reference(f"Zahlung {reference} danke") == (
        reference_body(invoice.number)
    )


def test_statement_of_account_shows_iban_and_each_invoice_reference(invoice):
    the_statement = statement(
        customer=invoice.customer, start=date(2026, 1, 1), end=date(2026, 1, 31)
    )
    text = pdf_text(statement_pdf(the_statement))

    assert "DE89 3704 0044 0532 0130 00" in text
    assert payment_reference(invoice) in text
    assert iso11649.is_valid(payment_reference(invoice))


def test_garbled_reference_is_not_read_as_an_invoice(invoice):
    reference = payment_reference(invoice).replace(" ", "")
    wrong_digit = reference[:-1] + str((int(reference[-1]) + 1) % 10)
    assert invoice_number_from_reference(wrong_digit) is None
