"""An AR clerk's day in the browser, from sign-in to an emailed invoice: create a
customer and its billing contact, an order with two lines, ship one line, invoice
the shipment, issue it by email; then check the figures a clerk would check."""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from invoicing.models import Invoice
from invoicing.selectors import customer_balances
from o2c.models import Role
from o2c.tenancy import tenant_context
from orders.models import Customer, Item
from tests.factories import OrganizationFactory, PaymentTermFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"
SHOTS = Path("/tmp/desk-forms-shots")


@pytest.fixture
def desk():
    org = OrganizationFactory(name="Lumen Optik GmbH", date_format="d.m.Y")
    clerk = member(
        org, Role.FINANCE, username="clara@lumen.example", first_name="Clara"
    )
    with tenant_context(org):
        PaymentTermFactory(name="Net 30", days=30)
        Item.objects.create(
            organization=org,
            sku="LENS-50",
            name="Lens 50 mm",
            unit_price=Decimal("249.00"),
            currency="EUR",
            tax_rate=Decimal(19),
        )
    return {"org": org, "clerk": clerk}


@pytest.fixture
def wide_page(page):
    """The clerk's laptop: 1366 px wide."""
    page.set_viewport_size({"width": 1366, "height": 900})
    SHOTS.mkdir(exist_ok=True)
    return page


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_clerk_bills_a_shipment_and_emails_the_invoice(
    smtp_sink, live_server, desk, wide_page
):
    page = wide_page
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill(desk["clerk"].username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Lumen Optik GmbH").wait_for()
    nav = page.get_by_role("navigation", name="Main")

    # A new customer, from the orders list.
    nav.get_by_role("link", name="Orders").click()
    page.get_by_role("link", name="New customer").click()
    page.get_by_label("Name", exact=True).fill("Helios Instruments")
    page.get_by_label("Payment terms").select_option(label="Net 30")
    page.get_by_label("Credit limit").fill("10000")
    page.get_by_label("Segment").fill("Labs")
    shot(page, "customer-form")
    page.get_by_role("button", name="Create customer").click()
    page.get_by_role("heading", name="Helios Instruments").wait_for()

    # Its billing contact, who gets the invoice.
    contacts = page.locator("#contacts")
    contacts.get_by_label("Name").fill("Petra Payables")
    contacts.get_by_label("Email").fill("ap@helios.example")
    contacts.get_by_label("Role").select_option(label="Billing")
    contacts.get_by_role("button", name="Add contact").click()
    contacts.get_by_text("ap@helios.example").wait_for()
    shot(page, "customer-contacts")

    # An order with two lines: a catalog item and a typed service.
    nav.get_by_role("link", name="Orders").click()
    page.locator(".page-header").get_by_role("link", name="New order").click()
    page.get_by_placeholder("Name or customer number").press_sequentially(
        "helios", delay=30
    )
    page.get_by_role("button", name=re.compile("Helios Instruments")).click()
    page.locator("#customer-picker").get_by_text("Helios Instruments").wait_for()
    rows = page.locator("#line-table tbody tr")
    rows.nth(0).locator("input[name$='-item']").fill("LENS-50")
    rows.nth(0).locator("input[name$='-quantity']").fill("10")
    rows.nth(1).locator("input[name$='-description']").fill("Calibration service")
    rows.nth(1).locator("input[name$='-quantity']").fill("2")
    rows.nth(1).locator("input[name$='-unit_price']").fill("150.00")
    rows.nth(1).locator("input[name$='-tax_rate']").fill("19")
    page.get_by_label("Customer reference (PO number)").fill("PO-2231")
    shot(page, "order-form")
    page.get_by_role("button", name="Save draft order").click()
    page.get_by_role("button", name="Confirm order").wait_for()
    lines = page.inner_text("#order-lines")
    assert re.search(r"Lens 50 mm\s+10\s+0\s+0\s+249\.00", lines)
    assert "Calibration service" in lines

    page.get_by_role("button", name="Confirm order").click()
    page.get_by_role("link", name="Record shipment").click()

    # Ship four of the ten lenses; the service waits.
    lens_quantity = page.get_by_label("Ship now of line 1")
    lens_quantity.fill("4")
    page.get_by_label("Carrier").fill("DHL")
    shot(page, "shipment-form")
    page.get_by_role("button", name="Record shipment").click()
    page.get_by_role("heading", name="Fulfillments").wait_for()
    assert re.search(
        r"Lens 50 mm\s+10\s+4\s+0", page.inner_text("#order-lines tbody tr:first-child")
    )

    # Invoice what shipped.
    page.get_by_role("link", name="Invoice shipped lines").click()
    assert page.get_by_label(re.compile("Invoice now of line 1")).input_value() == "4"
    shot(page, "order-invoice-form")
    page.get_by_role("button", name="Create draft invoice").click()
    page.get_by_role("button", name="Issue invoice").wait_for()
    shot(page, "invoice-draft")

    # Issue it, by email.
    page.get_by_label("Email it to the customer's billing contacts").check()
    page.get_by_role("button", name="Issue invoice").click()
    page.get_by_role("link", name="Credit note").wait_for()
    shot(page, "invoice-issued")

    # 4 x 249.00 = 996.00 + 19 % tax 189.24 = 1,185.24, all of it open.
    totals = page.inner_text("#invoice-totals")
    assert re.search(r"Total\s+1,185\.24\s*EUR", totals)
    assert re.search(r"Open\s+1,185\.24\s*EUR", totals)
    with tenant_context(desk["org"]):
        invoice = Invoice.objects.get()
        customer = Customer.objects.get(name="Helios Instruments")
        (balance,) = customer_balances(customer=customer)
    assert invoice.status == "open"
    assert invoice.total == invoice.open_amount == Decimal("1185.24")
    assert (balance.currency, balance.balance) == ("EUR", Decimal("1185.24"))

    # The email at the SMTP sink, with the invoice as a PDF.
    (message,) = smtp_sink.messages
    assert message.rcpt_tos == ["ap@helios.example"]
    assert invoice.number in message.subject
    (attachment,) = message.attachments()
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")

    page.reload()
    assert re.search(r"Sent\s+ap@helios\.example", page.inner_text("#invoice-emails"))

    # The customer's page shows what is owed.
    page.get_by_role("link", name="Customer account").click()
    page.locator("#customer-balances").wait_for()
    assert re.search(r"1,185\.24\s*EUR", page.inner_text("#customer-balances"))
    shot(page, "customer-after")
