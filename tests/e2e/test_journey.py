"""A finance person's first journey through the browser: sign in, see who owes
what, open a customer, open an invoice, download its PDF."""

import importlib.util
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from invoicing.services.invoices import invoice_create_from_order, invoice_issue
from o2c.models import Role
from o2c.tenancy import tenant_context
from orders.services.orders import (
    OrderLineInput,
    fulfillment_create,
    order_confirm,
    order_create,
)
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    OrganizationFactory,
    issued_invoice,
    member,
    received_payment,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"


@pytest.fixture
def books():
    """Nordwind GmbH with three customers and issued invoices, some overdue."""
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    user = member(
        org,
        Role.FINANCE,
        username="fiona@nordwind.example",
        first_name="Fiona",
        last_name="Fischer",
    )
    today = org.today()
    with tenant_context(org):
        alpha = CustomerFactory(name="Alpha Metals", number="C-100", segment="OEM")
        beta = CustomerFactory(name="Beta Foods", number="C-200", on_credit_hold=True)
        gamma = CustomerFactory(name="Gamma Tools", number="C-300")
        overdue = issued_invoice(
            alpha,
            "1200.00",
            invoice_date=today - timedelta(days=45),
            due_date=today - timedelta(days=15),
        )
        issued_invoice(
            alpha,
            "300.00",
            invoice_date=today - timedelta(days=5),
            due_date=today + timedelta(days=25),
        )
        received_payment(
            alpha,
            "500.00",
            received_date=today - timedelta(days=3),
            allocations=[(overdue, "450.00")],
        )
        issued_invoice(
            beta,
            "8750.40",
            invoice_date=today - timedelta(days=70),
            due_date=today - timedelta(days=40),
        )
        order = _shipped_and_invoiced_order(gamma, today)
    # Alpha: open 750.00 + 300.00, unapplied 50.00 -> balance 1,000.00
    return {"user": user, "alpha": alpha, "overdue": overdue, "order": order}


def _shipped_and_invoiced_order(customer, today):
    """10 drills at 89.90 and 4 cases at 12.50, 19 % tax; 6 drills shipped and
    invoiced (6 x 89.90 = 539.40 + 102.49 tax = 641.89)."""
    order = order_create(
        customer=customer,
        order_date=today - timedelta(days=10),
        customer_reference="PO-4471",
        lines=[
            OrderLineInput(
                quantity=Decimal(10),
                unit_price=Decimal("89.90"),
                tax_rate=Decimal(19),
                description="Cordless drill",
            ),
            OrderLineInput(
                quantity=Decimal(4),
                unit_price=Decimal("12.50"),
                tax_rate=Decimal(19),
                description="Carry case",
            ),
        ],
        actor=SYSTEM,
    )
    order = order_confirm(order=order, actor=SYSTEM)
    drills = order.lines.get(position=1)
    fulfillment_create(
        order=order,
        lines=[(drills, Decimal(6))],
        shipped_date=today - timedelta(days=8),
        carrier="DHL",
        tracking_number="JD0146000012",
        actor=SYSTEM,
    )
    invoice_issue(
        invoice=invoice_create_from_order(
            order=order, invoice_date=today - timedelta(days=7), actor=SYSTEM
        ),
        actor=SYSTEM,
    )
    return order


def test_finance_signs_in_and_downloads_an_invoice(
    live_server, page, screenshot, books
):
    page.goto(f"{live_server.url}/login/")
    screenshot("01-login")
    page.get_by_label("Email or username").fill(books["user"].username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Nordwind GmbH").wait_for()
    page.get_by_text("Total receivables · EUR").wait_for()
    # 750.00 + 300.00 + 8,750.40 + 641.89 (the order's invoice)
    assert "10,442.29" in page.inner_text("main")
    screenshot("02-dashboard")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Customers"
    ).click()
    page.get_by_role("heading", name="Customers").wait_for()
    alpha_row = page.locator("#customer-table tr", has_text="Alpha Metals")
    assert re.search(r"1,000\.00\s*EUR", alpha_row.inner_text())
    assert re.search(r"750\.00\s*EUR", alpha_row.inner_text())
    screenshot("03-customers")

    page.get_by_label("Search").press_sequentially("beta", delay=40)
    page.wait_for_url(re.compile(r"q=beta"))
    page.locator("#customer-table tr", has_text="Alpha Metals").wait_for(
        state="detached"
    )
    assert "8,750.40" in page.inner_text("#customer-table")
    screenshot("04-customers-search")

    page.goto(f"{live_server.url}/customers/")
    page.get_by_role("link", name="Alpha Metals").click()
    page.get_by_role("heading", name="Open invoices").wait_for()
    page.get_by_role("heading", name="Unapplied cash").wait_for()
    balances = page.inner_text("#customer-balances")
    assert re.search(r"1,000\.00\s*EUR", balances)
    screenshot("05-customer")

    number = books["overdue"].number
    page.get_by_role("link", name=number).first.click()
    page.get_by_role("heading", name=number).wait_for()
    page.get_by_role("heading", name="Payments applied").wait_for()
    assert re.search(r"750\.00\s*EUR", page.inner_text("#invoice-totals"))
    screenshot("06-invoice")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Invoices").click()
    page.get_by_label("Overdue only").check()
    page.wait_for_url(re.compile(r"overdue=on"))
    page.locator("#invoice-table tr", has_text="Gamma Tools").wait_for(state="detached")
    assert page.locator("#invoice-table tbody tr").count() == 2
    screenshot("07-invoices-overdue")

    nav.get_by_role("link", name="Orders").click()
    page.get_by_role("link", name=books["order"].number).click()
    page.get_by_role("heading", name="Fulfillments").wait_for()
    page.locator("#order-invoices-panel").wait_for()
    drills = page.inner_text("#order-lines tbody tr:first-child")
    assert re.search(r"Cordless drill\s+10\s+6\s+6", drills)
    assert re.search(r"641\.89\s*EUR", page.inner_text("#order-invoices-panel"))
    screenshot("08-order")

    nav.get_by_role("link", name="Payments").click()
    page.get_by_role("link", name="PAY-000001").click()
    assert re.search(r"50\.00\s*EUR", page.inner_text("#payment-unapplied"))
    screenshot("09-payment")

    page.goto(f"{live_server.url}/invoices/{books['overdue'].pk}/")
    if importlib.util.find_spec("invoicing.documents") is None:
        pytest.skip("invoicing.documents (the PDF renderer) is not there yet")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{number}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
