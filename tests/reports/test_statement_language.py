"""The statement of account (PDF and email) speaks the customer's language."""

import io
import re
from datetime import date

import pytest
from django.core import mail
from pypdf import PdfReader

from orders.models import Contact
from reports.documents import statement_pdf
from reports.selectors.history import statement
from reports.services import statement_email_request
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

ENGLISH_LABELS = [
    "Statement",
    "Account of",
    "Customer number",
    "Opening balance",
    "Closing balance",
    "Balance due",
    "Transactions",
    "Invoice",
    "Payment",
    "Due date",
    "Open invoices",
    "Not yet due",
    "days overdue",
    "January",
    "Page",
]


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))


@pytest.fixture
def account(tenant):
    """A German customer invoiced 1,234.56 EUR on 1 January 2026 (due on the
    31st), who paid 1,000.00 of it on 15 January."""
    tenant.name = "Werkzeug & Co"
    tenant.save()
    customer = CustomerFactory(name="Globex GmbH", number="K-1001", language="de")
    invoice = issued_invoice(customer, "1234.56", invoice_date=date(2026, 1, 1))
    payment = received_payment(
        customer,
        "1000.00",
        received_date=date(2026, 1, 15),
        allocations=[(invoice, "1000.00")],
    )
    return customer, invoice, payment


def test_a_german_customer_receives_a_german_statement(account):
    customer, invoice, payment = account
    the_statement = statement(
        customer=customer, start=date(2026, 1, 1), end=date(2026, 2, 10)
    )

    text = pdf_text(statement_pdf(the_statement))

    for expected in (
        "KONTOAUSZUG",
        "KONTO VON Globex GmbH",
        "Kundennummer K-1001",
        "Zeitraum 1. Januar 2026 \N{EN DASH} 10. Februar 2026",
        "Offener Saldo 234,56 €",
        "Anfangssaldo 1. Januar 2026 0,00 €",
        "Rechnungen und Gebühren 1.234,56 €",
        "Zahlungen -1.000,00 €",
        "Endsaldo 10. Februar 2026 234,56 €",
        "1\N{EN DASH}30 Tage überfällig 234,56 €",
        f"1. Januar 2026 Rechnung {invoice.number} {invoice.number} "
        "31. Januar 2026 1.234,56 € 1.234,56 €",
        f"15. Januar 2026 Zahlung {payment.number} 1.000,00 € 234,56 €",
        "Offene Posten am 10. Februar 2026",
        "Seite 1 von 1",
    ):
        assert expected in text, expected
    left_in_english = [label for label in ENGLISH_LABELS if label in text]
    assert left_in_english == []


def test_an_english_customer_receives_an_english_statement(account):
    customer, _, payment = account
    customer.language = "en"
    customer.save()
    the_statement = statement(
        customer=customer, start=date(2026, 1, 1), end=date(2026, 2, 10)
    )

    text = pdf_text(statement_pdf(the_statement))

    assert "Balance due €234.56" in text
    assert f"Payment {payment.number} €1,000.00 €234.56" in text
    assert "Kontoauszug" not in text


def test_the_statement_email_is_german(account, django_capture_on_commit_callbacks):
    customer, _, _ = account
    Contact.objects.create(
        organization=customer.organization,
        customer=customer,
        name="Kreditoren",
        email="kreditoren@globex.example",
        role=Contact.Role.BILLING,
    )

    with django_capture_on_commit_callbacks(execute=True):
        statement_email_request(
            customer=customer,
            start=date(2026, 1, 1),
            end=date(2026, 1, 31),
            currency="EUR",
            actor=SYSTEM,
        )

    (message,) = mail.outbox
    assert message.subject == (
        "Kontoauszug 1. Januar 2026 bis 31. Januar 2026 - Werkzeug & Co"
    )
    assert message.body.startswith("Guten Tag Globex GmbH,")
    assert "Endsaldo: 234,56\N{NO-BREAK SPACE}€" in message.body
    assert "Bitte begleichen Sie den offenen Saldo" in message.body
    assert "&amp;" not in message.body
    assert "Kontoauszug" in pdf_text(message.attachments[0][1])
