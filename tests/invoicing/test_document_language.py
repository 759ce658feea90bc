"""Invoices and their emails speak the customer's language: labels, amounts, dates.

The PDF is read back with pypdf and the email at a real SMTP sink, as the
customer receives them.
"""

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from invoicing.documents import render_credit_note_pdf, render_invoice_pdf
from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    invoice_create,
    invoice_issue,
)
from o2c.document_language import document_language
from o2c.money import format_money
from orders.models import Contact
from tests.factories import SYSTEM, CustomerFactory

# Labels of the English invoice that must not survive in a German one.
ENGLISH_LABELS = [
    "Invoice date",
    "Due date",
    "Bill to",
    "Customer number",
    "Description",
    "Unit price",
    "Subtotal",
    "Amount due",
    "How to pay",
    "Payment reference",
    "Please quote",
    "Currency",
    "Total",
    "December",
    "Page",
]


def pdf_text(pdf: bytes) -> str:
    """The PDF's text, runs of whitespace (no-break spaces too) as one space."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))


@pytest.fixture
def seller(tenant):
    tenant.name = "Werkzeug & Co"
    tenant.email = "buchhaltung@werkzeug.example"
    tenant.payment_instructions = "IBAN DE89 3704 0044 0532 0130 00"
    tenant.save()
    return tenant


@pytest.fixture
def issue(django_capture_on_commit_callbacks):
    """Issue a 1,234.56 EUR invoice due on 6 December 2026, running the email task
    its commit enqueues."""

    def issue(customer):
        invoice = invoice_create(
            customer=customer,
            invoice_date=date(2026, 11, 6),
            due_date=date(2026, 12, 6),
            lines=[LineInput("Akkuschrauber", Decimal(1), Decimal("1234.56"))],
            actor=SYSTEM,
        )
        with django_capture_on_commit_callbacks(execute=True):
            return invoice_issue(invoice=invoice, actor=SYSTEM)

    return issue


def german_customer(language="de", **fields):
    customer = CustomerFactory(name="Globex GmbH", language=language, **fields)
    Contact.objects.create(
        organization=customer.organization,
        customer=customer,
        name="Kreditoren",
        email="kreditoren@globex.example",
        role=Contact.Role.BILLING,
    )
    return customer


def test_a_german_customer_receives_a_german_invoice_pdf(seller, issue):
    invoice = issue(german_customer())

    text = pdf_text(render_invoice_pdf(invoice))

    for expected in (
        "RECHNUNG",
        "RECHNUNGSEMPFÄNGER Globex GmbH",
        "Rechnungsnummer INV-000001",
        "Rechnungsdatum 6. November 2026",
        "Fälligkeitsdatum 6. Dezember 2026",
        "Akkuschrauber 1 1.234,56 1.234,56 0% 0,00 1.234,56",
        "Gesamt 1.234,56 €",
        "Offener Betrag 1.234,56 €",
        "ZAHLUNGSHINWEISE",
        "Verwendungszweck:",
    ):
        assert expected in text, expected
    left_in_english = [label for label in ENGLISH_LABELS if label in text]
    assert left_in_english == []


def test_a_german_organization_writes_dates_in_its_own_format(seller, issue):
    seller.locale = "de"
    seller.date_format = "d.m.Y"
    seller.save()

    text = pdf_text(render_invoice_pdf(issue(german_customer())))

    assert "Fälligkeitsdatum 06.12.2026" in text
    assert "Gesamt 1.234,56 €" in text


def test_the_invoice_email_is_german_in_subject_text_and_html(seller, smtp_sink, issue):
    issue(german_customer())

    (received,) = smtp_sink.messages
    assert received.subject == "Rechnung INV-000001 von Werkzeug & Co"
    text = received.text
    assert text.startswith("Guten Tag Globex GmbH,")
    assert (
        "anbei erhalten Sie die Rechnung INV-000001 vom 6. November 2026 "
        "über 1.234,56\N{NO-BREAK SPACE}€." in text
    )
    assert "Sie ist am 6. Dezember 2026 fällig." in text
    assert "Bitte geben Sie INV-000001 als Verwendungszweck an" in text
    assert "Mit freundlichen Grüßen\nWerkzeug & Co" in text.replace("\r\n", "\n")
    assert not re.search(r"&(amp|lt|gt|quot|#\d+);", text)
    html = received.message.get_body(("html",)).get_content()
    assert '<html lang="de">' in html
    # The HTML body is the organization's text (the editable invoice email), its
    # figures in the summary table below it.
    assert "anbei erhalten Sie die Rechnung INV-000001 vom 6. November 2026" in html
    assert "Fälligkeitsdatum" in html and "Verwendungszweck" in html
    assert "<strong>1.234,56\N{NO-BREAK SPACE}€</strong>" in html
    assert "<strong>6. Dezember 2026</strong>" in html
    assert "&lt;" not in html
    for label in ("Dear", "please find", "Due date", "Kind regards", "Total"):
        assert label not in text, label
        assert label not in html, label
    (attachment,) = received.attachments()
    assert "Fälligkeitsdatum 6. Dezember 2026" in pdf_text(attachment.get_content())


def test_an_english_customer_gets_english(seller, smtp_sink, issue):
    invoice = issue(german_customer(language="en"))

    text = pdf_text(render_invoice_pdf(invoice))
    assert "Due date 2026-12-06" in text  # the organization's own date format
    assert "Total €1,234.56" in text
    assert "Amount due €1,234.56" in text
    assert "Rechnung" not in text
    (received,) = smtp_sink.messages
    assert received.subject == "Invoice INV-000001 from Werkzeug & Co"
    assert "please find attached invoice INV-000001 of 2026-11-06 for €1,234.56." in (
        received.text
    )


def test_a_regional_variant_speaks_its_language_with_its_own_number_format(
    seller, issue
):
    text = pdf_text(render_invoice_pdf(issue(german_customer(language="de-AT"))))

    assert "Fälligkeitsdatum 6. Dezember 2026" in text
    assert "Gesamt € 1.234,56" in text  # Austria puts the sign first


def test_a_language_without_a_catalogue_falls_back_to_the_organization(seller, issue):
    seller.locale = "de"
    seller.save()

    text = pdf_text(render_invoice_pdf(issue(german_customer(language="it"))))

    assert "Fälligkeitsdatum" in text
    assert "Gesamt 1.234,56 €" in text


def test_a_german_credit_note(seller, issue):
    invoice = issue(german_customer())
    credit_note = credit_note_create(
        invoice=invoice,
        credit_date=date(2026, 11, 20),
        reason="Transportschaden",
        lines=[LineInput("Gutschrift Transportschaden", Decimal(1), Decimal("34.56"))],
        actor=SYSTEM,
    )

    text = pdf_text(render_credit_note_pdf(credit_note))

    assert "GUTSCHRIFT" in text
    assert "Zur Rechnung INV-000001 vom 6. November 2026" in text
    assert "Grund: Transportschaden" in text
    assert "Gutschriftsbetrag 34,56 €" in text
    assert "Credit note" not in text


@pytest.mark.parametrize(
    ("customer_language", "organization_locale", "language", "locale"),
    [
        ("de", "en", "de", "de"),
        ("de-AT", "en", "de", "de-AT"),
        ("DE_ch", "en", "de", "de-CH"),
        ("en", "en-GB", "en", "en-GB"),  # borrows the organization's region
        ("it", "de-CH", "de", "de-CH"),  # no Italian catalogue
        ("", "fr", "fr", "fr"),
        ("xx", "nl", "en", "en"),  # neither has a catalogue
    ],
)
def test_the_document_language_is_the_customers_else_the_organizations(
    tenant, customer_language, organization_locale, language, locale
):
    tenant.locale = organization_locale
    chosen = document_language(customer_language, tenant)
    assert (chosen.language, chosen.locale) == (language, locale)


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "written"),
    [
        ("1234.56", "EUR", "de", "1.234,56\N{NO-BREAK SPACE}€"),
        ("1234.56", "EUR", "en", "€1,234.56"),
        ("1234.5", "USD", "en", "$1,234.50"),
        ("1234", "JPY", "de", "1.234\N{NO-BREAK SPACE}¥"),
        ("1234.125", "KWD", "en", "KWD\N{NO-BREAK SPACE}1,234.125"),
        ("-3", "KWD", "en", "-KWD\N{NO-BREAK SPACE}3.000"),
        ("5.125", "IQD", "de", "5,125\N{NO-BREAK SPACE}IQD"),  # ISO: 3 decimals
    ],
)
def test_money_is_written_as_the_locale_writes_it(amount, currency, locale, written):
    assert format_money(Decimal(amount), currency, locale) == written
