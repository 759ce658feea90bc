"""The customer's journey through the portal, on a phone (390 px) and a laptop
(1366 px): from the link in a dunning email received at the SMTP sink, open the
portal, download an invoice PDF, dispute one invoice and promise to pay another.
The collector's My day and the customer's timeline show both, and the next
dunning run sends nothing for either. Screenshots: /work/logs/portal-*.png (or
PORTAL_SCREENSHOTS)."""

import io
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from pypdf import PdfReader

from collecting.models import Dispute, Notice, PromiseToPay, Source
from collecting.services.dunning import dunning_run
from collecting.services.policies import standard_policy_create
from o2c.models import Role
from o2c.tenancy import tenant_context
from orders.models import Contact
from reconciliation.models import BankAccount
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    OrganizationFactory,
    issued_invoice,
    member,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/work/logs"))
PASSWORD = "correct-horse-1"
LINK = re.compile(r"https?://\S+/portal/t/[A-Za-z0-9_-]+/")


@pytest.fixture
def books(live_server, settings):
    settings.O2C_PUBLIC_URL = live_server.url
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    carla = member(
        org, Role.COLLECTOR, username="carla@nordwind.example", first_name="Carla"
    )
    today = org.today()
    with tenant_context(org):
        standard_policy_create(actor=SYSTEM)
        BankAccount.objects.create(
            organization=org, name="Main", iban="DE89370400440532013000",
            bic="COBADEFFXXX", currency="EUR", is_default=True,
        )  # fmt: skip
        acme = CustomerFactory(name="Acme Metals", collector=carla)
        Contact.objects.create(
            organization=org, customer=acme, name="Ann Able",
            email="ann@acme.example", role=Contact.Role.BILLING, is_primary=True,
        )  # fmt: skip

        def overdue(amount, days):
            due = today - timedelta(days=days)
            return issued_invoice(
                acme, amount, invoice_date=due - timedelta(days=30), due_date=due
            )

        disputed = overdue("1234.50", 12)
        promised = overdue("800.00", 10)
        untouched = overdue("99.00", 9)
    return {
        "org": org, "today": today, "acme": acme, "disputed": disputed,
        "promised": promised, "untouched": untouched,
    }  # fmt: skip


@pytest.mark.parametrize("width,height", [(390, 844), (1366, 768)])
def test_the_customer_answers_a_reminder_in_the_portal(
    live_server, browser, books, smtp_sink, width, height
):
    org, today = books["org"], books["today"]
    disputed, promised = books["disputed"], books["promised"]
    with tenant_context(org):
        dunning_run()
    (reminder,) = smtp_sink.messages
    assert reminder.rcpt_tos == ["ann@acme.example"]
    assert "See your invoices, pay, dispute or promise" in reminder.text
    link = LINK.search(reminder.text)[0]

    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    blocked = []
    page.on(
        "console",
        lambda m: (
            blocked.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    page.goto(link)
    page.get_by_role("heading", name="Your account, Acme Metals").wait_for()
    assert page.url == f"{live_server.url}/portal/"
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"portal-{width}-home.png"), full_page=True)

    # Download the disputed invoice's PDF from its page and read it.
    page.get_by_role("link", name=disputed.number).click()
    page.get_by_role("heading", name=f"Invoice {disputed.number}").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the invoice (PDF)").click()
    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(_read(download.value))).pages
    )
    assert disputed.number in text and "1,234.50" in text
    assert page.locator("img[alt='EPC QR code for this transfer']").is_visible()
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"portal-{width}-invoice.png"), full_page=True)

    # Dispute it.
    dispute = page.locator("#dispute")
    dispute.get_by_label("What is wrong?").select_option("quantity")
    dispute.get_by_label("Your message").fill("8 pallets arrived, not 10.")
    dispute.get_by_role("button", name="Dispute this invoice").click()
    page.get_by_text("stopped reminders for it").wait_for()
    assert "You have disputed this invoice" in page.content()

    # Promise to pay the other.
    page.get_by_role("link", name="All invoices").click()
    page.get_by_role("link", name=promised.number).click()
    promise = page.locator("#promise")
    promise_date = today + timedelta(days=14)
    promise.get_by_label("I will pay on").fill(promise_date.isoformat())
    assert promise.get_by_label("Amount (EUR)").input_value() == "800.00"
    promise.get_by_role("button", name="Promise to pay").click()
    page.get_by_text("We have noted your payment").wait_for()
    page.get_by_role("link", name="All invoices").click()
    assert (
        page.locator(".p-item", has_text=disputed.number)
        .get_by_text("Disputed")
        .is_visible()
    )
    assert (
        page.locator(".p-item", has_text=promised.number)
        .get_by_text("Payment promised")
        .is_visible()
    )
    page.screenshot(path=str(SHOTS / f"portal-{width}-answered.png"), full_page=True)
    context.close()
    assert not blocked, blocked

    with tenant_context(org):
        (dispute_row,) = Dispute.objects.all()
        assert dispute_row.source == Source.PORTAL
        assert list(dispute_row.invoices.all()) == [disputed]
        (promise_row,) = PromiseToPay.objects.all()
        assert (promise_row.source, promise_row.promised_date) == (
            Source.PORTAL,
            promise_date,
        )

    # The collector sees both: in My day (a reason of the row) and the timeline.
    desk = browser.new_context(viewport={"width": 1366, "height": 768})
    collector = desk.new_page()
    collector.set_default_timeout(15_000)
    collector.goto(f"{live_server.url}/login/")
    collector.get_by_label("Email or username").fill("carla@nordwind.example")
    collector.get_by_label("Password").fill(PASSWORD)
    collector.get_by_role("button", name="Sign in").click()
    collector.wait_for_url(re.compile(r"/$"))
    collector.goto(f"{live_server.url}/collections/my-day/")
    row = collector.locator("tbody.queue-row", has_text="Acme Metals")
    assert "disputed in the portal +20" in row.inner_text()
    assert "promised in the portal +15" in row.inner_text()
    if width == 1366:
        collector.screenshot(path=str(SHOTS / "portal-collector-my-day.png"))
    row.get_by_role("link", name="Timeline").click()
    collector.get_by_text(
        "Dispute: Quantity differs (from the customer portal)"
    ).wait_for()
    assert collector.get_by_text(
        f"Promise to pay by {promise_date.isoformat()} (from the customer portal)"
    ).is_visible()
    desk.close()

    # A week later the next step is due for all three invoices; only the one the
    # customer did not answer for is chased.
    later = datetime.now(tz=UTC) + timedelta(days=12)
    with time_machine.travel(later, tick=False), tenant_context(org):
        dunning_run()
        notices = list(Notice.objects.order_by("pk"))
        assert len(notices) == 2
        listed = {item.invoice_id for item in notices[1].items.all()}
        assert listed == {books["untouched"].pk}
    assert len(smtp_sink.messages) == 2
    second = smtp_sink.messages[1].text
    assert books["untouched"].number in second
    assert disputed.number not in second and promised.number not in second


def _read(download) -> bytes:
    return Path(download.path()).read_bytes()


def _no_sideways_scroll(page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
