"""A collector's morning: sign in, open My day, call the top account, record the
promise it ends in, and see the account leave the queue until the promise date."""

import re
from datetime import timedelta

import pytest

from collecting.models import PromiseToPay, WorklistEntry
from collecting.services.worklist import worklist_rebuild
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, OrganizationFactory, issued_invoice, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"


@pytest.fixture
def queue_of_carla():
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    carla = member(
        org, Role.COLLECTOR, username="carla@nordwind.example", first_name="Carla"
    )
    today = org.today()
    with tenant_context(org):
        acme = CustomerFactory(
            name="Acme Metals", collector=carla, risk_class="high", segment="OEM"
        )
        issued_invoice(
            acme, "4200.00", invoice_date=today - timedelta(days=70),
            due_date=today - timedelta(days=40),
        )  # fmt: skip
        issued_invoice(
            acme, "800.00", invoice_date=today - timedelta(days=45),
            due_date=today - timedelta(days=15),
        )  # fmt: skip
        bolt = CustomerFactory(name="Bolt & Nut", collector=carla)
        issued_invoice(
            bolt, "350.00", invoice_date=today - timedelta(days=40),
            due_date=today - timedelta(days=10),
        )  # fmt: skip
        worklist_rebuild()
    return {"org": org, "carla": carla, "acme": acme, "today": today}


def test_a_call_ending_in_a_promise_takes_the_row_off_my_day(
    live_server, page, screenshot, queue_of_carla
):
    today = queue_of_carla["today"]
    promise_date = today + timedelta(days=7)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill("carla@nordwind.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))

    page.goto(f"{live_server.url}/collections/my-day/")
    page.get_by_role("heading", name="My day").wait_for()
    rows = page.locator("tbody.queue-row")
    assert rows.count() == 2
    top = rows.first
    assert top.get_attribute("data-customer") == "Acme Metals"
    # The score's parts are on the row.
    assert "days overdue" in top.inner_text()
    assert "risk class" in top.inner_text()
    assert re.search(r"5,000\.00\s*EUR", top.inner_text())
    screenshot("my-day-01-queue")

    top.get_by_role("button", name="Act").click()
    panel = page.locator("tbody.queue-row", has_text="Log a call")
    panel.get_by_label("Outcome").select_option(label="Promised to pay")
    panel.get_by_label("Note", exact=True).first.fill("Pays both on Friday")
    panel.get_by_label("Amount (EUR)").first.fill("5000.00")
    panel.get_by_label("Promise date").fill(promise_date.isoformat())
    screenshot("my-day-02-call")
    panel.get_by_role("button", name="Save call").click()

    notice = page.locator("tbody.queue-row-left")
    notice.wait_for()
    assert "Acme Metals left today's queue until" in notice.inner_text()
    assert promise_date.strftime("%d.%m.%Y") in notice.inner_text()
    screenshot("my-day-03-left")

    page.reload()
    page.get_by_role("heading", name="My day").wait_for()
    names = [
        row.get_attribute("data-customer")
        for row in page.locator("tbody.queue-row").all()
    ]
    assert names == ["Bolt & Nut"]

    with tenant_context(queue_of_carla["org"]):
        promise = PromiseToPay.objects.get()
        assert (promise.status, promise.promised_date) == ("active", promise_date)
        assert str(promise.amount) == "5000.000"
        entry = WorklistEntry.objects.get(customer=queue_of_carla["acme"])
        assert entry.next_action_date == promise_date
