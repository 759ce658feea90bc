"""An admin's and a finance user's settings work in the browser.

An admin invites a collector; the invitation arrives at the SMTP sink; the
collector follows its link, chooses a password, signs in and lands on My day.
A finance user finds the aging unable to convert US dollars, follows the link to
add the rate, enters it, and reads the aging in euros with the converted total.
Each settings page is photographed at 1366 px wide.
"""

import re
from datetime import timedelta

import pytest

from o2c.models import FxRate, Membership, Role
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, OrganizationFactory, issued_invoice, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"
WIDE = {"width": 1366, "height": 900}


@pytest.fixture
def nordwind(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    member(org, Role.ADMIN, username="ada@nordwind.example", first_name="Ada")
    member(org, Role.FINANCE, username="finn@nordwind.example", first_name="Finn")
    return org


def sign_in(page, live_server, username, password=PASSWORD):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_invited_collector_sets_a_password_and_lands_on_my_day(
    live_server, page, screenshot, smtp_sink, nordwind
):
    page.set_viewport_size(WIDE)
    sign_in(page, live_server, "ada@nordwind.example")
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Members"
    ).click()
    page.get_by_role("heading", name="Members").wait_for()
    page.get_by_label("Invite by email").fill("carla@nordwind.example")
    page.get_by_label("Role", exact=True).select_option(label="Collector")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("Invitation sent to carla@nordwind.example").wait_for()
    row = page.locator('tr[data-member="carla@nordwind.example"]')
    assert "invited" in row.inner_text().lower()
    screenshot("admin-01-members")

    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ["carla@nordwind.example"]
    assert "as Collector" in mail.text
    link = re.search(r"https?://\S+/set-password/\S+/", mail.text).group(0)

    page.context.clear_cookies()
    page.goto(link)
    page.get_by_role("heading", name="Choose your password").wait_for()
    screenshot("admin-02-set-password")
    page.get_by_label("New password").fill("Lagerhalle-42")
    page.get_by_label("Repeat the password").fill("Lagerhalle-42")
    page.get_by_role("button", name="Set password").click()
    page.get_by_text("Your password is set").wait_for()
    sign_in_after_reset = page.url
    assert "next=%2Fcollections%2Fmy-day%2F" in sign_in_after_reset
    page.get_by_label("Email or username").fill("carla@nordwind.example")
    page.get_by_label("Password").fill("Lagerhalle-42")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/collections/my-day/$"))
    page.get_by_role("heading", name="My day").wait_for()
    screenshot("admin-03-my-day")
    assert (
        Membership.objects.get(
            organization=nordwind, user__username="carla@nordwind.example"
        ).role
        == Role.COLLECTOR
    )


def test_finance_enters_a_usd_rate_and_reads_the_aging_in_euros(
    live_server, page, screenshot, nordwind
):
    today = nordwind.today()
    with tenant_context(nordwind):
        yankee = CustomerFactory(name="Yankee Corp", currency="USD")
        issued_invoice(
            yankee, "1000.00", invoice_date=today - timedelta(days=40),
            due_date=today - timedelta(days=10),
        )  # fmt: skip
        issued_invoice(
            CustomerFactory(name="Berlin Bau", currency="EUR"), "500.00",
            invoice_date=today - timedelta(days=5), due_date=today + timedelta(days=25),
        )  # fmt: skip
    page.set_viewport_size(WIDE)
    sign_in(page, live_server, "finn@nordwind.example")
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"{live_server.url}/reports/aging/?in_base=on")
    alert = page.get_by_role("alert").filter(has_text="No FX rate for USD")
    alert.wait_for()
    alert.get_by_role("link", name="Add the USD rate").click()

    page.get_by_role("heading", name="FX rates").wait_for()
    assert page.get_by_label("Currency", exact=True).first.input_value() == "USD"
    page.get_by_label("Rate (EUR per unit)").fill("0.9213")
    screenshot("fx-01-add-rate")
    page.get_by_role("button", name="Save rate").click()

    page.wait_for_url(re.compile(r"/reports/aging/\?in_base=on$"))
    totals = page.locator("#aging-totals tbody tr").first
    assert totals.locator("th").inner_text() == "EUR"
    # 1,000.00 USD x 0.9213 = 921.30 EUR, plus 500.00 EUR not yet due.
    assert re.search(r"1,421\.30\s*EUR", totals.inner_text())
    assert "USD 0.921300" in page.locator("main").inner_text()
    screenshot("fx-02-aging-in-eur")
    with tenant_context(nordwind):
        assert [(r.currency, r.date, str(r.rate)) for r in FxRate.objects.all()] == [
            ("USD", today, "0.9213000000")
        ]


def test_settings_pages_at_1366(live_server, page, screenshot, nordwind):
    page.set_viewport_size(WIDE)
    sign_in(page, live_server, "ada@nordwind.example")
    page.wait_for_url(re.compile(r"/$"))
    for path, heading, name in [
        ("/settings/organization/", "Organization", "settings-organization"),
        ("/settings/api-keys/", "API keys", "settings-api-keys"),
        ("/fx-rates/", "FX rates", "settings-fx-rates"),
    ]:
        page.goto(f"{live_server.url}{path}")
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        screenshot(name)
    page.goto(f"{live_server.url}/settings/api-keys/")
    page.get_by_label("Name").fill("ERP export")
    page.get_by_role("button", name="Create key").click()
    page.locator("#new-key").wait_for()
    screenshot("settings-api-key-created")
    page.goto(f"{live_server.url}/settings/organization/")
    page.get_by_label("Time zone").fill("Europe/Atlantis")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Unknown time zone").first.wait_for()
    assert page.get_by_label("Time zone").input_value() == "Europe/Atlantis"
    screenshot("settings-organization-error")
    page.goto(f"{live_server.url}/no/such/page/")
    page.get_by_role("heading", name="Page not found").wait_for()
    screenshot("error-404")
