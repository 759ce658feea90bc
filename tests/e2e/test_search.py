"""The search box in a browser: a clerk types a buyer's PO number on the dashboard,
picks the invoice from the dropdown with the keyboard and lands on its page; Enter
without a pick opens the results page."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.services.invoices import LineInput, invoice_create, invoice_issue
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import SYSTEM, CustomerFactory, OrganizationFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"


def issued(customer, amount, reference):
    invoice = invoice_create(
        customer=customer,
        invoice_date=date(2026, 4, 1),
        customer_reference=reference,
        lines=[
            LineInput(
                description="Freight", quantity=Decimal(1), unit_price=Decimal(amount)
            )
        ],
        actor=SYSTEM,
    )
    return invoice_issue(invoice=invoice, actor=SYSTEM)


@pytest.fixture
def book():
    organization = OrganizationFactory(name="Nordlicht Trading")
    user = member(organization, Role.FINANCE, username="clerk@nordlicht.example")
    with tenant_context(organization):
        customer = CustomerFactory(name="Baltic Freight Oy", number="C-2001")
        issued(customer, "980.00", "PO-55300")
        wanted = issued(customer, "1250.40", "PO-55317")
        issued(customer, "310.00", "PO-55321")
    return user, wanted


def test_pick_an_invoice_from_the_dropdown_with_the_keyboard(
    live_server, browser, book
):
    user, wanted = book
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/login/?next=/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        box = page.locator("#global-search")
        box.click()
        box.press_sequentially("PO-553", delay=40)
        options = page.locator("#search-suggestions .search-option")
        options.filter(has_text="PO-55317").wait_for()
        assert page.locator("#global-search").get_attribute("aria-expanded") == "true"
        texts = options.all_inner_texts()
        # Newest first: PO-55321, then PO-55317, then PO-55300, then "All results".
        position = next(i for i, text in enumerate(texts) if "PO-55317" in text)
        for _ in range(position + 1):
            box.press("ArrowDown")
        active = page.locator("#search-suggestions .search-option.active")
        assert "PO-55317" in active.inner_text()
        assert "1,250.40 EUR" in active.inner_text()
        page.screenshot(path="tests/e2e/screenshots/search_dropdown.png")

        box.press("Enter")
        page.wait_for_url(f"**/invoices/{wanted.pk}/")
        assert wanted.number in page.locator("main").inner_text()

        # Enter with nothing picked: the results page, every match listed.
        box = page.locator("#global-search")
        box.fill("PO-553")
        box.press("Enter")
        page.wait_for_url("**/search/?q=PO-553")
        rows = page.locator("#search-invoices + .table-wrap tbody tr")
        assert rows.count() == 3
        assert "1,250.40 EUR" in page.locator("main").inner_text()
        page.screenshot(path="tests/e2e/screenshots/search_results.png", full_page=True)
    finally:
        context.close()
