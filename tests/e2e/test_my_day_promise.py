"""A collector's promise for one invoice, by keyboard: sign in, open My day, move
to the first row with j, open Act with Enter, untick the invoice the customer
will not pay yet, record the promise, and find only the ticked invoice promised,
on the page and in the books. Screenshots of the page and the open panel, at a
laptop's 1366 px, go to the test's temporary directory (outside the project)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from collecting.models import PromiseToPay, WorklistEntry
from collecting.services.worklist import worklist_rebuild
from o2c.models import Role
from o2c.tenancy import tenant_context
from orders.models import Contact
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    issued_invoice,
    member,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"


@pytest.fixture
def laptop(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def books():
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    carla = member(
        org, Role.COLLECTOR, username="carla@nordwind.example", first_name="Carla"
    )
    today = org.today()

    def invoice(customer, amount, days_overdue):
        due = today - timedelta(days=days_overdue)
        return issued_invoice(
            customer, amount, invoice_date=due - timedelta(days=30), due_date=due
        )

    with tenant_context(org):
        acme = CustomerFactory(
            name="Acme Metals", collector=carla, risk_class="high", segment="OEM"
        )
        Contact.objects.create(
            organization=org, customer=acme, name="Ann Able", phone="+49 30 1234",
            email="ann@acme.example", role=Contact.Role.BILLING, is_primary=True,
        )  # fmt: skip
        old = invoice(acme, "4200.00", 40)
        recent = invoice(acme, "800.00", 15)
        not_due = invoice(acme, "650.00", -10)
        bolt = CustomerFactory(name="Bolt & Nut", collector=carla, do_not_contact=True)
        invoice(bolt, "350.00", 10)
        worklist_rebuild()
    return {
        "org": org, "today": today, "acme": acme,
        "old": old, "recent": recent, "not_due": not_due,
    }  # fmt: skip


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill("carla@nordwind.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_a_promise_for_one_overdue_invoice_by_keyboard(
    live_server, laptop, books, tmp_path
):
    page = laptop
    promised_on = books["today"] + timedelta(days=7)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/collections/my-day/")
    page.get_by_role("heading", name="My day").wait_for()
    rows = page.locator("tbody.queue-row")
    assert rows.first.get_attribute("data-customer") == "Acme Metals"
    assert "+49 30 1234" in rows.first.inner_text()
    assert "Do not contact" in rows.nth(1).inner_text()
    page.screenshot(path=str(tmp_path / "my-day.png"), full_page=True)

    page.keyboard.press("j")
    assert "is-current" in rows.first.get_attribute("class")
    page.keyboard.press("Enter")
    panel = page.locator("#account-" + str(_entry_pk(books)) + " [data-act-panel]")
    panel.wait_for()
    boxes = panel.locator('input[name="invoices"]')
    assert boxes.count() == 3  # one list for every form
    old = panel.get_by_label(books["old"].number)
    recent = panel.get_by_label(books["recent"].number)
    assert old.is_checked() and recent.is_checked()
    assert not panel.get_by_label(books["not_due"].number).is_checked()
    promise = panel.locator("form[hx-post$='/promise/']")
    amount = promise.get_by_label("Amount (EUR)")
    assert amount.input_value() == "5,000.00"  # as the page writes amounts

    old.uncheck()
    # The total and the promise amount follow the ticks.
    assert "800.00 EUR" in panel.locator("[data-selected-total]").inner_text()
    assert amount.input_value() == "800.00"
    promise.get_by_label("Date").fill(promised_on.isoformat())
    rows.first.evaluate("row => row.scrollIntoView()")
    page.screenshot(path=str(tmp_path / "my-day-act.png"))
    promise.get_by_role("button", name="Record promise").click()

    row = page.locator("tbody.queue-row", has_text="Promise to pay by")
    row.wait_for()
    assert promised_on.strftime("%d.%m.%Y") in row.inner_text()
    # The 4,200.00 invoice is still chased: the row stays, and reopened, the
    # panel shows only the 800.00 invoice under the promise.
    row.get_by_role("button", name="Act").click()
    reopened = page.locator("tr.panel-row")
    reopened.wait_for()
    promised_rows = reopened.locator("tr", has_text="under a promise")
    assert promised_rows.count() == 1
    assert books["recent"].number in promised_rows.inner_text()
    page.keyboard.press("Escape")
    reopened.wait_for(state="detached")

    with tenant_context(books["org"]):
        promise = PromiseToPay.objects.get()
        assert list(promise.invoices.all()) == [books["recent"]]
        assert promise.amount == Decimal("800.00")
        assert promise.promised_date == promised_on
        entry = WorklistEntry.objects.get(customer=books["acme"])
        assert entry.amount_overdue == Decimal("4200.00")


def _entry_pk(books) -> int:
    with tenant_context(books["org"]):
        return WorklistEntry.objects.get(customer=books["acme"]).pk


def test_the_ranked_list_loads_the_next_rows_when_they_come_into_view(
    live_server, laptop, books, monkeypatch
):
    from collecting import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    page = laptop
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/collections/my-day/")
    rows = page.locator("tbody.queue-row")

    # One account a page: the end of the list is in view, so the next page comes.
    rows.nth(1).wait_for()
    assert [row.get_attribute("data-customer") for row in rows.all()] == [
        "Acme Metals",
        "Bolt & Nut",
    ]
    # The keyboard reaches the rows that came later.
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert "is-current" in rows.nth(1).get_attribute("class")
