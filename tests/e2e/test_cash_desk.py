"""The finance desk's cash work in the browser: from an issued invoice of 1,000.00
EUR, record a 600.00 payment with the suggested allocation, a 395.00 payment left
on account, apply that cash from the customer's page, write off the last 5.00;
then check what a finance person checks: the invoice paid, no unapplied cash, the
ledger consistent."""

from decimal import Decimal
from pathlib import Path

import pytest

from invoicing.models import Invoice
from o2c.checks import run_ledger_checks
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import Payment, WriteOff
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    issued_invoice,
    member,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"
SHOTS = Path("/tmp/cash-desk-shots")


@pytest.fixture
def desk():
    org = OrganizationFactory(name="Lumen Optik GmbH", write_off_limit=Decimal(10))
    clerk = member(
        org, Role.FINANCE, username="fiona@lumen.example", first_name="Fiona"
    )
    with tenant_context(org):
        customer = CustomerFactory(name="Helios Instruments", currency="EUR")
        invoice = issued_invoice(customer, "1000.00")
    return {"org": org, "clerk": clerk, "customer": customer, "invoice": invoice}


@pytest.fixture
def wide_page(page):
    page.set_viewport_size({"width": 1366, "height": 900})
    SHOTS.mkdir(exist_ok=True)
    return page


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def record_payment(page, amount: str, reference: str):
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Payments"
    ).click()
    page.get_by_role("link", name="Record a payment").click()
    page.get_by_placeholder("Name or customer number").press_sequentially(
        "helios", delay=30
    )
    page.get_by_role("button", name="Helios Instruments").click()
    page.locator("#customer-picker .picked").wait_for()
    page.get_by_label("Amount", exact=True).fill(amount)
    page.get_by_label("Reference").fill(reference)
    page.get_by_role("button", name="Show open invoices").click()
    page.locator("#allocation-rows input").first.wait_for()


def test_finance_user_settles_an_invoice_from_the_browser(live_server, desk, wide_page):
    page, invoice = wide_page, desk["invoice"]
    apply_field = f"input[name='apply_{invoice.pk}']"
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill(desk["clerk"].username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Lumen Optik GmbH").wait_for()

    # 600.00 received: the suggestion puts it all on the open invoice.
    record_payment(page, "600.00", "REMIT 1")
    assert page.locator(apply_field).input_value() == "600.00"
    shot(page, "payment-form")
    page.get_by_role("button", name="Record payment").click()
    page.locator("#payment-unapplied").wait_for()
    assert "0.00" in page.locator("#payment-unapplied").inner_text()
    assert "600.00" in page.locator("#payment-applied").inner_text()
    shot(page, "payment-detail")

    # 395.00 without remittance advice: kept on account.
    record_payment(page, "395.00", "NO ADVICE")
    assert page.locator(apply_field).input_value() == "395.00"
    page.locator(apply_field).fill("")
    page.get_by_role("button", name="Record payment").click()
    page.locator("#payment-unapplied").wait_for()
    assert "395.00" in page.locator("#payment-unapplied").inner_text()

    # From the customer's page, the cash on account goes to the invoice.
    page.get_by_role("link", name="Customer account").first.click()
    page.locator("#apply-cash").click()
    page.locator(apply_field).wait_for()
    assert page.locator(apply_field).input_value() == "395.00"
    shot(page, "apply-cash-form")
    page.get_by_role("button", name="Apply cash").click()
    page.get_by_role("heading", name="Helios Instruments").wait_for()

    # The last 5.00 is written off, within the 10.00 limit.
    page.goto(f"{live_server.url}/invoices/{invoice.pk}/")
    page.locator("#write-off").click()
    assert page.get_by_label("Amount", exact=True).input_value() == "5.00"
    page.get_by_label("Reason").fill("Bank charges deducted by the payer")
    shot(page, "write-off-form")
    page.get_by_role("button", name="Write off").click()
    page.locator("#invoice-settlements").wait_for()
    shot(page, "invoice-settled")

    with tenant_context(desk["org"]):
        invoice.refresh_from_db()
        assert invoice.status == Invoice.Status.PAID
        assert invoice.open_amount == Decimal("0.00")
        assert sorted(p.amount for p in Payment.objects.all()) == [
            Decimal("395.00"),
            Decimal("600.00"),
        ]
        assert sum(p.unapplied_amount for p in Payment.objects.all()) == 0
        assert WriteOff.objects.get().amount == Decimal("5.00")
        assert run_ledger_checks() == []
