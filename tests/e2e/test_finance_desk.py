"""Two finance-desk journeys at a laptop's 1366 px, each from sign-in:

- a collector creates a payment plan for a customer's two overdue invoices in
  three instalments, from the customer's page, and finds it in the books;
- a finance user edits the German text of the first dunning reminder and sees the
  preview for a real German customer, with its amounts, before saving it.

Screenshots go to the test's temporary directory (outside the project).
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from collecting.models import DunningStep, PaymentPlan
from collecting.selectors import paused_invoices
from collecting.services.policies import standard_policy_create
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import (
    SYSTEM,
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
    # A German organization: the desk speaks German, dates as 31.12.2026.
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y", locale="de")
    member(org, Role.COLLECTOR, username="carla@nordwind.example", first_name="Carla")
    member(org, Role.FINANCE, username="fiona@nordwind.example", first_name="Fiona")
    today = org.today()

    def invoice(customer, amount, days_overdue):
        due = today - timedelta(days=days_overdue)
        return issued_invoice(
            customer, amount, invoice_date=due - timedelta(days=30), due_date=due
        )

    with tenant_context(org):
        standard_policy_create(actor=SYSTEM)
        customer = CustomerFactory(
            name="Müller Maschinenbau", email="ap@mueller.example", language="de"
        )
        old = invoice(customer, "1000.00", 40)
        recent = invoice(customer, "500.00", 12)
        not_due = invoice(customer, "300.00", -10)
    return {
        "org": org, "today": today, "customer": customer,
        "old": old, "recent": recent, "not_due": not_due,
    }  # fmt: skip


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_a_collector_creates_a_payment_plan_in_three_instalments(
    live_server, laptop, books, tmp_path
):
    page = laptop
    sign_in(page, live_server, "carla@nordwind.example")
    page.goto(f"{live_server.url}/customers/{books['customer'].pk}/")
    page.get_by_role("link", name="Neuer Ratenplan").click()
    page.get_by_role("heading", name="Neuer Ratenplan").wait_for()

    old = page.get_by_label(books["old"].number, exact=True)
    recent = page.get_by_label(books["recent"].number, exact=True)
    not_due = page.get_by_label(books["not_due"].number, exact=True)
    assert old.is_checked() and recent.is_checked() and not not_due.is_checked()
    assert "1.500,00" in page.locator("#plan-total").inner_text()
    rows = page.locator("#plan-rows tbody tr")
    assert rows.count() == 3
    amounts = [
        rows.nth(i).locator("input[name$='-amount']").input_value() for i in range(3)
    ]
    assert amounts == ["500,00", "500,00", "500,00"]  # as the organization writes

    # A different first date proposes the rows afresh, in the organization's format.
    first = books["today"] + timedelta(days=14)
    page.get_by_label("Erste Rate am").fill(first.strftime("%d.%m.%Y"))
    page.get_by_label("Anzahl der Raten").click()  # leaves the date: change
    first_row_date = page.locator("#plan-rows input[name='rows-0-due_date']")
    first_row_date.wait_for()
    page.wait_for_function(
        "value => document.querySelector(\"input[name='rows-0-due_date']\").value"
        " === value",
        arg=first.strftime("%d.%m.%Y"),
    )
    # Edit two rows: the sum follows, and it must come out at 1,500.00.
    page.locator("input[name='rows-0-amount']").fill("700.00")
    page.locator("input[name='rows-2-amount']").fill("300.00")
    page.locator("input[name='rows-2-amount']").press("Tab")
    page.wait_for_function(
        "() => document.querySelector('#plan-difference').innerText.startsWith('0,00')"
    )
    page.screenshot(path=str(tmp_path / "plan-form.png"), full_page=True)
    page.get_by_role("button", name="Ratenplan anlegen").click()
    page.wait_for_url(re.compile(r"/collections/plans/\d+/$"))
    table = page.locator("#plan-instalments").inner_text()
    assert "700,00" in table and "300,00" in table and "1.500,00" in table
    page.screenshot(path=str(tmp_path / "plan-detail.png"), full_page=True)

    with tenant_context(books["org"]):
        plan = PaymentPlan.objects.get()
        assert [(i.due_date, i.amount) for i in plan.instalments.all()] == [
            (first, Decimal("700.00")),
            (_month(first, 1), Decimal("500.00")),
            (_month(first, 2), Decimal("300.00")),
        ]
        assert set(plan.invoices.all()) == {books["old"], books["recent"]}
        assert set(paused_invoices(invoice_ids=[books["old"].pk, books["recent"].pk]))
    page.goto(
        f"{live_server.url}/collections/customers/{books['customer'].pk}/timeline/"
    )
    assert f"Ratenplan #{plan.pk}: 3 Raten" in page.content()


def _month(day, months):
    from collecting.services.commitments import add_months

    return add_months(day, months)


def test_a_finance_user_edits_the_german_reminder_and_previews_it_for_a_customer(
    live_server, laptop, books, tmp_path
):
    page = laptop
    sign_in(page, live_server, "fiona@nordwind.example")
    page.goto(f"{live_server.url}/collections/policies/")
    page.get_by_role("link", name="Standard").first.click()
    row = page.locator("tr", has_text="First reminder")
    row.get_by_role("link", name="Texte").click()
    page.get_by_role("heading", name="First reminder: E-Mail-Text").wait_for()

    page.locator("label.tab", has_text="Deutsch").click()
    subject = page.locator("#de-subject")
    body = page.locator("#de-body")
    subject.fill("Erinnerung: {{ total }} {{ currency }} offen")
    body.fill("Guten Tag {{ contact.name }},\n\nbitte zahlen Sie <b>{{ total }} ")
    body.press("End")
    page.get_by_role(
        "button", name="currency", exact=True
    ).click()  # inserts {{ currency }}
    body.press("End")
    body.type("</b>.\n\n{{ invoices_table }}")

    page.get_by_label("Vorschau für den Kunden").fill("Müller")
    preview = page.locator("#email-preview")
    # The preview follows the typing: wait for the text as last typed (a
    # preview of the text half typed, "{{ invoices_", may come first).
    page.wait_for_function(
        "() => { const body = (document.querySelector('#preview-body') || "
        "{innerHTML: ''}).innerHTML; "
        "return body.includes('</b>.') && !body.includes('{{'); }"
    )
    assert page.locator("#preview-subject").inner_text() == (
        "Erinnerung: 1.500,00 EUR offen"
    )
    body_html = page.locator("#preview-body").inner_html()
    # The first reminder lists what reached the policy's first step (courtesy,
    # 3 days before due): 1,000 + 500; the invoice due in 10 days is not listed.
    assert "<b>1.500,00 EUR</b>" in body_html
    assert "&lt;" not in body_html
    assert books["old"].number in preview.inner_text()
    assert books["not_due"].number not in preview.inner_text()
    page.screenshot(path=str(tmp_path / "text-editor.png"), full_page=True)

    page.get_by_role("button", name="Texte speichern").click()
    page.get_by_text("Texte gespeichert.").wait_for()
    with tenant_context(books["org"]):
        step = DunningStep.objects.get(name="First reminder")
        assert step.translations["de"]["subject"] == (
            "Erinnerung: {{ total }} {{ currency }} offen"
        )
        assert "<b>{{ total }} {{ currency }}</b>" in step.translations["de"]["body"]
