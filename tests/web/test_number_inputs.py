"""Amounts typed as the organization writes them.

Every page shows an "en" organization's amounts as 1,250.00 and a "de" one's as
1.250,00; every number input of the finance desk reads them the same way (and the
plain 1250.00 a spreadsheet or the API writes), refuses misplaced grouping with an
example in the organization's format, and shows a stored value back so that saving
the form unchanged saves the same number.
"""

import html
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from invoicing.forms import InvoiceLineForm
from invoicing.models import Invoice
from invoicing.services.invoices import LineInput, invoice_create
from o2c.models import Role
from o2c.numbers import NotANumber, format_number, parse_number
from o2c.tenancy import tenant_context
from orders.forms import CustomerForm, customer_initial
from portal.forms import RemittanceForm
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    OrganizationFactory,
    PaymentTermFactory,
    member,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
TODAY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def organization(locale: str):
    return OrganizationFactory(locale=locale, base_currency="EUR")


def line_form(**typed) -> InvoiceLineForm:
    form = InvoiceLineForm(
        data={"description": "Consulting", "quantity": "1", "unit_price": "1", **typed}
    )
    form.is_valid()
    return form


# --- the form reads the organization's numbers ---------------------------------------


@pytest.mark.parametrize(
    ("locale", "typed", "unit_price"),
    [
        ("en", "1,250.00", Decimal("1250.00")),
        ("en", "1250.00", Decimal("1250.00")),
        ("en", "12,345,678.5", Decimal("12345678.5")),
        ("en", "-12.5", Decimal("-12.5")),
        ("en", " 1,250.00 ", Decimal("1250.00")),
        ("de", "1.250,00", Decimal("1250.00")),
        ("de", "1250,00", Decimal("1250.00")),
        ("de", "12,5", Decimal("12.5")),
        ("de", "-1.250,50", Decimal("-1250.50")),
        # As the organization writes it first: in de a point groups thousands …
        ("de", "1.250", Decimal("1250")),
        # … and the plain form where the locale cannot read it (a paste).
        ("de", "1250.00", Decimal("1250.00")),
        ("de", "12.5", Decimal("12.5")),
        ("de", "-12.5", Decimal("-12.5")),
        ("fr", "1 250,00", Decimal("1250.00")),  # a typed space, not U+202F
        ("fr", "12.5", Decimal("12.5")),
    ],
)
@pytest.mark.django_db
def test_a_unit_price_is_read_as_the_organization_writes_it(locale, typed, unit_price):
    with tenant_context(organization(locale)):
        form = line_form(unit_price=typed)

    assert form.errors == {}
    assert form.cleaned_data["unit_price"] == unit_price


@pytest.mark.parametrize(
    ("locale", "typed", "message"),
    [
        ("en", "1,25.0", "Enter a number, e.g. 1,250.00."),
        ("en", "12,5", "Enter a number, e.g. 1,250.00."),
        ("en", "1e3", "Enter a number, e.g. 1,250.00."),
        ("en", "NaN", "Enter a number, e.g. 1,250.00."),
        ("en", "twelve", "Enter a number, e.g. 1,250.00."),
        ("de", "1,250.00", "Enter a number, e.g. 1.250,00."),
        ("de", "1.25,0", "Enter a number, e.g. 1.250,00."),
    ],
)
@pytest.mark.django_db
def test_misplaced_grouping_is_refused_with_an_example(locale, typed, message):
    with tenant_context(organization(locale)):
        form = line_form(unit_price=typed)

    assert form.errors == {"unit_price": [message]}


@pytest.mark.django_db
def test_the_example_is_in_the_interface_language_too():
    with tenant_context(organization("de")), translation.override("de"):
        form = line_form(quantity="1,2,5")

        assert form.errors == {"quantity": ["Geben Sie eine Zahl ein, z. B. 1.250,00."]}


@pytest.mark.django_db
def test_the_portal_refuses_a_negative_transfer_in_the_customers_format():
    with tenant_context(organization("de")):
        form = RemittanceForm(
            data={"amount": "-1.250,00", "paid_on": "2026-03-02", "invoices": []},
            invoices=[],
        )
        form.is_valid()

    assert form.errors["amount"] == ["Ensure this value is greater than or equal to 0."]


# --- values shown back read back the same ---------------------------------------------


@pytest.mark.parametrize(
    ("locale", "shown"), [("en", "12,500.00"), ("de", "12.500,00")]
)
@pytest.mark.django_db
def test_a_credit_limit_is_shown_as_written_and_saved_unchanged(locale, shown):
    org = organization(locale)
    with tenant_context(org):
        customer = CustomerFactory(credit_limit=Decimal("12500"), currency="EUR")
        initial = customer_initial(customer)
        page = str(CustomerForm(initial=initial)["credit_limit"])
        value = html.unescape(re.search(r'value="([^"]*)"', page).group(1))
        field = CustomerForm.base_fields["credit_limit"]

        assert value == shown
        assert field.clean(value) == Decimal("12500.00")


@pytest.mark.parametrize(
    ("locale", "quantity", "shown"),
    [
        ("en", Decimal("1.250"), "1.25"),
        ("de", Decimal("1.250"), "1,25"),
        ("de", Decimal("1250"), "1.250"),
        ("de", Decimal("0.125"), "0,125"),
    ],
)
@pytest.mark.django_db
def test_a_draft_saved_unchanged_keeps_its_quantity(locale, quantity, shown):
    """A de clerk opening a draft of 1.25 units and saving it must not bill 1,250."""
    org = organization(locale)
    clerk = member(org, Role.FINANCE)
    client = Client()
    client.force_login(clerk)
    with tenant_context(org):
        customer = CustomerFactory(payment_term=PaymentTermFactory(days=14))
        invoice = invoice_create(
            customer=customer,
            invoice_date=TODAY,
            currency="EUR",
            lines=[
                LineInput(
                    description="Steel",
                    quantity=quantity,
                    unit_price=Decimal("1000.00"),
                    tax_rate=Decimal("0"),
                ),
            ],
            actor=SYSTEM,
        )
        total = invoice.total

    page = client.get(f"/invoices/{invoice.pk}/edit/").content.decode()
    inputs = dict(re.findall(r'<input[^>]* name="([^"]+)"[^>]* value="([^"]*)"', page))
    data = {name: html.unescape(value) for name, value in inputs.items()}
    data.update(
        {
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "notes": "",
            "customer_reference": "",
        }
    )
    assert data["lines-0-quantity"] == shown
    assert data["lines-0-unit_price"] == ("1,000.00" if locale == "en" else "1.000,00")

    response = client.post(f"/invoices/{invoice.pk}/edit/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_context(org):
        invoice.refresh_from_db()
        assert [(line.quantity, line.unit_price) for line in invoice.lines.all()] == [
            (quantity, Decimal("1000.00"))
        ]
        assert invoice.total == total == quantity * Decimal("1000.00")


# --- through the page a clerk uses ---------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "unit_price", "quantity"),
    [("en", "1,250.00", "2.5"), ("de", "1.250,00", "2,5")],
)
@pytest.mark.django_db
def test_a_clerk_invoices_an_amount_typed_as_the_pages_show_it(
    locale, unit_price, quantity
):
    org = organization(locale)
    clerk = member(org, Role.FINANCE)
    client = Client()
    client.force_login(clerk)
    with tenant_context(org):
        customer = CustomerFactory(payment_term=PaymentTermFactory(days=14))

    response = client.post(
        "/invoices/new/",
        {
            "customer": customer.pk,
            "invoice_date": "2026-03-02",
            "due_date": "",
            "currency": "EUR",
            "customer_reference": "",
            "notes": "",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-description": "Consulting",
            "lines-0-quantity": quantity,
            "lines-0-unit_price": unit_price,
            "lines-0-tax_rate": "19",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    with tenant_context(org):
        invoice = Invoice.objects.get()
        line = invoice.lines.get()
        assert invoice.status == Invoice.Status.DRAFT
        assert (line.quantity, line.unit_price) == (Decimal("2.5"), Decimal("1250.00"))
        # 3,125.00 net + 593.75 tax
        assert invoice.total == Decimal("3718.75")


@pytest.mark.django_db
def test_a_german_clerk_is_told_how_to_write_the_amount():
    org = organization("de")
    clerk = member(org, Role.FINANCE)
    client = Client()
    client.force_login(clerk)
    with tenant_context(org):
        customer = CustomerFactory(payment_term=PaymentTermFactory(days=14))

    response = client.post(
        "/invoices/new/",
        {
            "customer": customer.pk,
            "invoice_date": "2026-03-02",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-description": "Consulting",
            "lines-0-quantity": "1",
            "lines-0-unit_price": "1,250.00",
        },
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert "Geben Sie eine Zahl ein, z. B. 1.250,00." in page
    assert 'value="1,250.00"' in page  # as typed
    with tenant_context(org):
        assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_the_invoice_list_filters_on_a_total_typed_the_german_way():
    org = organization("de")
    clerk = member(org, Role.FINANCE)
    client = Client()
    client.force_login(clerk)
    with tenant_context(org):
        customer = CustomerFactory(payment_term=PaymentTermFactory(days=14))
        for number, price in (("A-1", "999.99"), ("A-2", "1250.00")):
            invoice_create(
                customer=customer,
                invoice_date=TODAY,
                currency="EUR",
                number=number,
                lines=[
                    LineInput(
                        description="Goods",
                        quantity=Decimal(1),
                        unit_price=Decimal(price),
                        tax_rate=Decimal(0),
                    )
                ],
                actor=SYSTEM,
            )

    page = client.get("/invoices/", {"amount_min": "1.000,00"}).content.decode()

    assert "A-2" in page and "A-1" not in page
    assert 'name="amount_min" value="1.000,00"' in page


# --- the shared reading and writing --------------------------------------------------


LOCALES = ["en", "de", "fr", "de-CH", "sv", "es", "en-IN"]


@given(
    value=st.decimals(
        min_value=Decimal("-999999999999999"),
        max_value=Decimal("999999999999999"),
        places=3,
        allow_nan=False,
        allow_infinity=False,
    ),
    locale=st.sampled_from(LOCALES),
)
def test_what_an_input_shows_reads_back_exactly(value, locale):
    shown = format_number(value, locale)

    assert parse_number(shown, locale) == value
    # Every decimal is kept: a quantity of 1.250 is not shown as 1.25 or 1250.
    assert str(parse_number(shown, locale)) == str(value)


@pytest.mark.parametrize(
    ("locale", "typed", "value"),
    [
        ("sv", "\N{MINUS SIGN}1 250,50", Decimal("-1250.50")),
        ("de-CH", "1\N{RIGHT SINGLE QUOTATION MARK}250.50", Decimal("1250.50")),
        ("fr", "1\N{NO-BREAK SPACE}250,50", Decimal("1250.50")),
    ],
)
def test_what_a_keyboard_types_for_the_locales_symbols_is_read(locale, typed, value):
    assert parse_number(typed, locale) == value


@pytest.mark.parametrize(
    "typed", ["", "-", "Infinity", "1,2", "1 250.00", "0x10", "--5", "+-5", "5-"]
)
def test_no_number_is_guessed(typed):
    with pytest.raises(NotANumber):
        parse_number(typed, "en")
