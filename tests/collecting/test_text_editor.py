"""The email text editors: a dunning step's German text previewed for a real
customer exactly as the dunning then sends it, unknown placeholders refused with
nothing saved, and the invoice email's own text used by the invoice sending."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from collecting.models import DunningStep, Notice
from collecting.services.dunning import dunning_run
from collecting.services.policies import standard_policy_create
from collecting.services.sending import notices_send
from invoicing.models import InvoiceEmailText
from invoicing.services.delivery import delivery_send, invoice_delivery_schedule
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, member

NOW = datetime(2026, 2, 10, 9, tzinfo=ZoneInfo("Europe/Berlin"))
HTMX = {"HTTP_HX_REQUEST": "true"}

GERMAN_SUBJECT = (
    "Zahlungserinnerung für {{ customer.name }}: {{ total }} {{ currency }}"
)
GERMAN_BODY = (
    "Guten Tag {{ contact.name }},\n\n"
    "offen sind <b>{{ total }} {{ currency }}</b>:\n\n"
    "{{ invoices_table }}\n\n"
    "Mit freundlichen Grüßen\n{{ organization.name }}"
)


# A German customer reads amounts and dates as German writes them.
PAY_BY = "Bitte zahlen Sie <b>1.234,50\N{NO-BREAK SPACE}€</b> bis 1. Februar 2026."


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def books(org):
    org.locale = "en"
    org.save(update_fields=["locale"])
    with tenant_context(org):
        policy = standard_policy_create(actor=SYSTEM)
        customer = CustomerFactory(
            name="Müller & Söhne", email="buchhaltung@mueller.example", language="de"
        )
        invoice = issued_invoice(
            customer,
            "1234.50",
            invoice_date=date(2026, 1, 2),
            due_date=date(2026, 2, 1),
        )
        first = policy.steps.get(name="First reminder")
    return {"customer": customer, "invoice": invoice, "step": first}


def finance_client(org):
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client


def editor_data(step, customer, **changes):
    english = step.translations.get("de", {})
    data = {
        "language": "de",
        "customer": str(customer.pk),
        "en-subject": step.subject,
        "en-body": step.body,
        "de-subject": english.get("subject", ""),
        "de-body": english.get("body", ""),
        "fr-subject": "",
        "fr-body": "",
    }
    return data | changes


def url(step, suffix=""):
    return f"/collections/steps/{step.pk}/texts/{suffix}"


@pytest.mark.django_db
def test_the_editor_shows_tabs_placeholders_and_a_preview(org, books):
    page = finance_client(org).get(url(books["step"]))
    assert page.status_code == 200
    html = page.text
    for code, label in (("en", "English"), ("de", "German"), ("fr", "French")):
        assert f'name="language" value="{code}"' in html and label in html
    assert 'name="de-body"' in html and 'name="fr-subject"' in html
    assert 'data-insert="{{ customer.name }}"' in html
    assert 'data-insert="{{ invoices_table }}"' in html


@pytest.mark.django_db
def test_the_german_preview_is_what_the_customer_receives(org, books, smtp_sink):
    client = finance_client(org)
    step, customer = books["step"], books["customer"]
    data = editor_data(step, customer, **{"de-subject": GERMAN_SUBJECT,
                                          "de-body": GERMAN_BODY})  # fmt: skip
    preview = client.post(url(step, "preview/"), data, **HTMX)
    assert preview.status_code == 200
    html = preview.text
    # The customer's real figures, in German number format; HTML as rendered.
    assert "offen sind <b>1.234,50 EUR</b>" in html
    assert books["invoice"].number in html and "<table" in html
    assert "Zahlungserinnerung für Müller &amp; Söhne: 1.234,50 EUR" in html
    assert "&lt;" not in html

    saved = client.post(url(step), data, **HTMX)
    assert saved.status_code == 200
    assert "Texts saved." in saved.text
    with tenant_context(org):
        step.refresh_from_db()
        assert step.translations["de"] == {
            "subject": GERMAN_SUBJECT,
            "body": GERMAN_BODY,
        }
        assert AuditEvent.objects.filter(
            object_type="collecting.dunningstep", action="updated"
        ).exists()
        # The dunning sends the same: subject, and the HTML part's content.
        dunning_run()
        notices_send(notice_ids=list(Notice.objects.values_list("pk", flat=True)))
    (message,) = smtp_sink.messages
    assert message.subject.strip() == (
        "Zahlungserinnerung für Müller & Söhne: 1.234,50 EUR"
    )
    sent_html = message.message.get_body(("html",)).get_content()
    shown = re.search(r'id="preview-body">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert " ".join(shown.split()) in " ".join(sent_html.split())


@pytest.mark.django_db
def test_an_unknown_placeholder_is_named_and_nothing_is_saved(org, books):
    client = finance_client(org)
    step, customer = books["step"], books["customer"]
    before = dict(step.translations)
    typed = "Guten Tag {{ customer.nmae }}, bitte zahlen Sie {{ total }}."
    data = editor_data(step, customer, **{"de-body": typed})
    refused = client.post(url(step), data, **HTMX)
    assert refused.status_code == 422
    assert "Unknown placeholder {{ customer.nmae }}" in refused.text
    assert "Nothing was saved." in refused.text
    assert (
        "Guten Tag {{ customer.nmae }}, bitte zahlen Sie {{ total }}." in refused.text
    )
    preview = client.post(url(step, "preview/"), data, **HTMX)
    assert "Unknown placeholder {{ customer.nmae }}" in preview.text
    with tenant_context(org):
        assert DunningStep.objects.get(pk=step.pk).translations == before


@pytest.mark.django_db
def test_a_collector_cannot_edit_texts(org, books):
    client = Client()
    client.force_login(member(org, Role.COLLECTOR))
    assert client.get(url(books["step"])).status_code == 403


@pytest.mark.django_db
def test_the_invoice_email_uses_the_organizations_text_in_the_customers_language(
    org, books, smtp_sink, django_capture_on_commit_callbacks
):
    client = finance_client(org)
    customer = books["customer"]
    page = client.get("/invoices/email-text/")
    assert page.status_code == 200
    assert "please find attached invoice" in page.text  # the standard text
    data = {
        "language": "de",
        "customer": str(customer.pk),
        "en-subject": "Invoice {{ invoice.number }} from {{ organization.name }}",
        "en-body": "Dear {{ customer.legal_name }}, please pay {{ total }}.",
        "de-subject": "Rechnung {{ invoice.number }}",
        "de-body": "Bitte zahlen Sie <b>{{ total }}</b> bis {{ invoice.due_date }}.",
        "fr-subject": "",
        "fr-body": "",
    }
    preview = client.post("/invoices/email-text/preview/", data, **HTMX)
    number = books["invoice"].number
    assert f"Rechnung {number}" in preview.text
    assert PAY_BY in preview.text
    assert "&lt;" not in preview.text

    bad = client.post(
        "/invoices/email-text/", data | {"de-subject": "{{ invoice.numbr }}"}, **HTMX
    )
    assert bad.status_code == 422
    assert "Unknown placeholder {{ invoice.numbr }}" in bad.text
    with tenant_context(org):
        assert not InvoiceEmailText.objects.exists()

    assert client.post("/invoices/email-text/", data, **HTMX).status_code == 200
    with tenant_context(org):
        assert sorted(InvoiceEmailText.objects.values_list("language", flat=True)) == [
            "de",
            "en",
        ]
        delivery = invoice_delivery_schedule(invoice=books["invoice"], actor=SYSTEM)
        delivery_send(delivery_id=delivery.pk)
    (message,) = smtp_sink.messages
    assert message.subject.strip() == f"Rechnung {number}"
    assert PAY_BY in message.text
    html = message.message.get_body(("html",)).get_content()
    assert PAY_BY in html
