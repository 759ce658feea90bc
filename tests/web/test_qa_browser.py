"""In the browser: a refused action on a My day row shows its error where it was
typed (htmx 2 drops 4xx answers unless told otherwise), and a request that fails
says so instead of leaving the page as it was."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from collecting.models import PromiseToPay
from collecting.services.worklist import worklist_rebuild
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, OrganizationFactory, issued_invoice, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct-horse-1"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as patch:
        # The sync API runs an event loop in the test thread; Django must be told
        # the ORM calls of the test body are on purpose.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            yield browser
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def queue():
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    carla = member(org, Role.COLLECTOR, username="carla@nordwind.example")
    today = org.today()
    with tenant_context(org):
        acme = CustomerFactory(name="Acme Metals", collector=carla)
        issued_invoice(
            acme, "4200.00", invoice_date=today - timedelta(days=70),
            due_date=today - timedelta(days=40),
        )  # fmt: skip
        worklist_rebuild()
    return {"org": org, "today": today}


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill("carla@nordwind.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_a_refused_promise_shows_its_error_and_keeps_the_amount(
    live_server, page, queue
):
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/collections/my-day/")
    page.locator("tbody.queue-row").first.get_by_role("button", name="Act").click()
    form = page.locator("form[hx-post$='/promise/']")
    form.get_by_label("Amount (EUR)").fill("1500.00")
    form.get_by_role("button", name="Record promise").click()

    error = page.locator("form[hx-post$='/promise/']").get_by_role("alert")
    error.wait_for()
    assert error.inner_text() == "A promise needs an amount and a date."
    form = page.locator("form[hx-post$='/promise/']")
    assert form.get_by_label("Amount (EUR)").input_value() == "1500.00"

    # Corrected, the same form goes through and the row leaves today's queue.
    promised = queue["today"] + timedelta(days=5)
    form.get_by_label("Date").fill(promised.isoformat())
    form.get_by_role("button", name="Record promise").click()
    left = page.locator("tbody.queue-row-left")
    left.wait_for()
    assert promised.strftime("%d.%m.%Y") in left.inner_text()
    with tenant_context(queue["org"]):
        assert str(PromiseToPay.objects.get().amount) == "1500.000"


def test_a_panel_that_fails_says_so(live_server, page, queue):
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/collections/my-day/")
    # The account is gone by the time the collector opens it.
    page.evaluate(
        """() => document.querySelector("tbody.queue-row button")
             .setAttribute("hx-get", "/collections/my-day/999999/panel/")"""
    )
    page.evaluate("htmx.process(document.querySelector('tbody.queue-row'))")
    page.locator("tbody.queue-row").first.get_by_role("button", name="Act").click()

    notice = page.locator("#request-error")
    notice.wait_for()
    assert "no longer exists" in notice.inner_text()
