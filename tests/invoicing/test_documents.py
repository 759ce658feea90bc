import io
import re
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings
from pypdf import PdfReader
from weasyprint import HTML

from invoicing.documents import (
    StaticFilesFetcher,
    render_credit_note_pdf,
    render_invoice_pdf,
)
from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    invoice_create,
    invoice_issue,
    invoice_void,
)
from orders.models import PaymentTerm
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    PaymentTermFactory,
    issued_invoice,
    received_payment,
)

HOSTILE_NAME = '<img src="file:///etc/passwd">'


def pdf_text(pdf: bytes) -> str:
    """The PDF's text with runs of whitespace collapsed, for phrase matching."""
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def seller(tenant):
    tenant.name = "Acme Tools"
    tenant.legal_name = "Acme Tools GmbH"
    tenant.address = "Hauptstraße 1\n10115 Berlin"
    tenant.tax_id = "DE123456789"
    tenant.email = "ar@acme.example"
    tenant.phone = "+49 30 1234567"
    tenant.date_format = "d.m.Y"
    tenant.payment_instructions = "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX"
    tenant.save()
    return tenant


def test_invoice_pdf_shows_what_a_customer_needs_to_pay(seller):
    customer = CustomerFactory(
        name="Globex",
        number="C-4711",
        address="1 Main Street\nSpringfield",
        tax_id="US-99-1234567",
    )
    invoice = invoice_create(
        customer=customer,
        invoice_date=date(2026, 3, 2),
        due_date=date(2026, 4, 1),
        customer_reference="PO-778",
        lines=[
            LineInput("Cordless drill", Decimal(3), Decimal("120.00"), Decimal(19)),
            LineInput("Installation hour", Decimal("1.5"), Decimal("80.00"), None),
        ],
        actor=SYSTEM,
    )
    invoice = invoice_issue(invoice=invoice, actor=SYSTEM)

    text = pdf_text(render_invoice_pdf(invoice))

    for expected in (
        "Acme Tools GmbH",
        "Hauptstraße 1",
        "10115 Berlin",
        "Tax ID: DE123456789",
        "ar@acme.example",
        "+49 30 1234567",
        "Globex",
        "C-4711",
        "1 Main Street",
        "Tax ID: US-99-1234567",
        "PO-778",
        "Invoice number INV-000001",
        "Invoice date 02.03.2026",
        "Due date 01.04.2026",
        # qty, unit price, net, tax rate, tax amount, line total
        "Cordless drill 3 120.00 360.00 19% 68.40 428.40",
        "Installation hour 1.5 80.00 120.00 0% 0.00 120.00",
        "Subtotal €480.00",
        "Tax €68.40",
        "Total €548.40",
        "Amount due €548.40",
        "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX",
        "Payment reference: RF69 INV0 0000 1",  # ISO 11649, from INV-000001
    ):
        assert expected in text, expected
    assert "Paid" not in text  # nothing received yet


def test_invoice_pdf_shows_payments_credits_and_what_is_left(seller):
    customer = CustomerFactory()
    invoice = issued_invoice(customer, "1000.00")
    credit_note_create(
        invoice=invoice,
        credit_date=date(2026, 1, 5),
        reason="Damaged in transit",
        lines=[LineInput("Damaged unit", Decimal(1), Decimal("150.00"))],
        actor=SYSTEM,
    )
    received_payment(customer, "600.00", allocations=[(invoice, "600.00")])
    invoice.refresh_from_db()

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Total €1,000.00" in text
    assert "Credited \N{MINUS SIGN}€150.00" in text
    assert "Paid \N{MINUS SIGN}€600.00" in text
    assert "Amount due €250.00" in text


def test_a_void_invoice_says_so_and_asks_for_no_payment(seller):
    invoice = invoice_void(
        invoice=issued_invoice(CustomerFactory(), "100.00"), actor=SYSTEM
    )

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Void: this invoice is cancelled and not payable" in text
    assert "HOW TO PAY" not in text
    assert "Amount due" not in text


def test_a_draft_has_no_number_and_no_payment_reference(seller):
    draft = invoice_create(
        customer=CustomerFactory(),
        invoice_date=date(2026, 1, 1),
        lines=[LineInput("Goods", Decimal(1), Decimal("10.00"))],
        actor=SYSTEM,
    )

    text = pdf_text(render_invoice_pdf(draft))

    assert "Draft: not yet issued" in text
    assert "Invoice number (assigned at issue)" in text
    assert "Payment reference" not in text


@pytest.mark.parametrize(
    ("currency", "unit_price", "total"),
    [
        ("JPY", "123456", "Total ¥123,456"),
        ("KWD", "1234.125", "Total KWD 1,234.125"),
        ("EUR", "1234.5", "Total €1,234.50"),
    ],
)
def test_amounts_use_the_currency_minor_units(tenant, currency, unit_price, total):
    customer = CustomerFactory(currency=currency)
    invoice = issued_invoice(customer, unit_price, currency=currency)

    text = pdf_text(render_invoice_pdf(invoice))

    assert total in text
    assert f"Amount due {total.removeprefix('Total ')}" in text


def test_several_due_dates_print_the_instalment_schedule(seller):
    term = PaymentTermFactory(
        kind=PaymentTerm.Kind.INSTALMENTS,
        instalments=[{"percent": "50", "days": 30}, {"percent": "50", "days": 60}],
    )
    customer = CustomerFactory(payment_term=term)
    invoice = issued_invoice(customer, "100.01", invoice_date=date(2026, 1, 1))

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Due in 2 instalments, first on 31.01.2026" in text
    assert "PAYMENT SCHEDULE" in text
    assert "1 of 2 31.01.2026 €50.01" in text
    assert "2 of 2 02.03.2026 €50.00" in text


def test_credit_note_pdf(seller):
    customer = CustomerFactory(name="Globex")
    invoice = issued_invoice(customer, "500.00")
    credit_note = credit_note_create(
        invoice=invoice,
        credit_date=date(2026, 1, 10),
        reason="Price agreed after complaint",
        lines=[LineInput("Discount", Decimal(1), Decimal("100.00"), Decimal(19))],
        actor=SYSTEM,
    )

    text = pdf_text(render_credit_note_pdf(credit_note))

    assert "CREDIT NOTE" in text
    assert "Credit note number CN-000001" in text
    assert "For invoice INV-000001 of 01.01.2026" in text
    assert "Price agreed after complaint" in text
    assert "Total credited €119.00" in text


def test_markup_in_customer_data_is_printed_as_text(seller):
    customer = CustomerFactory(name=HOSTILE_NAME, address='<link href="http://x">')
    invoice = issued_invoice(customer, "10.00")

    text = pdf_text(render_invoice_pdf(invoice))

    assert HOSTILE_NAME in text
    assert '<link href="http://x">' in text
    assert "root:" not in text


def test_fetcher_serves_static_files_only():
    fetcher = StaticFilesFetcher()
    static_dir = settings.STATICFILES_DIRS[0]
    stylesheet = (static_dir / "pdf" / "document.css").as_uri()

    assert fetcher(stylesheet).read().startswith(b"/*")
    for url in (
        "file:///etc/passwd",
        f"{static_dir.as_uri()}/pdf/../../pyproject.toml",
        f"{static_dir.as_uri()}/pdf/%2e%2e/%2e%2e/pyproject.toml",
        "file://evil.example/etc/passwd",
        "http://127.0.0.1:1/",
        "https://example.com/logo.png",
        "data:text/plain,hello",
    ):
        with pytest.raises(PermissionError):
            fetcher(url)


def test_renderer_does_not_load_a_file_that_markup_points_at():
    """Should markup ever reach the renderer, the fetcher still refuses the file."""
    asked = []

    class Recording(StaticFilesFetcher):
        def fetch(self, url, headers=None):
            asked.append(url)
            return super().fetch(url, headers)

    pdf = HTML(
        string=(
            '<p>x</p><img src="file:///etc/passwd">'
            '<link rel="stylesheet" href="http://127.0.0.1:1/a.css">'
        ),
        url_fetcher=Recording(),
    ).write_pdf()

    assert sorted(asked) == ["file:///etc/passwd", "http://127.0.0.1:1/a.css"]
    assert "root:" not in pdf_text(pdf)
