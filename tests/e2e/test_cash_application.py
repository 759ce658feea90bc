"""Cash application in the browser: a finance user uploads a camt.053 whose lines
pay open invoices, watches the import and the matching finish, reads why the
engine applied what it applied, resolves the exceptions (one split over two
customers' invoices found with the search, one put on a customer's account, one
by applying its top suggestion with the keyboard),
undoes one automatic match, and the books say exactly that. Screenshots of the
upload page and the queue at a laptop's 1366 px go to the test's temporary
directory (outside the project)."""

import re
from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from invoicing.references import payment_reference
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import Allocation, Payment, StatementLine
from reconciliation.statements.base import ParsedEntry
from tests.factories import CustomerFactory, OrganizationFactory, issued_invoice, member
from tests.reconciliation.bank import main_account, statement
from tests.reconciliation.statements.writers import write_camt053

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"
JAN = date(2026, 1, 12)
FEB = date(2026, 2, 3)
L = StatementLine


@pytest.fixture
def laptop(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())  # "Reverse what this line did?"
    yield page
    context.close()


@pytest.fixture
def books(tmp_path):
    org = OrganizationFactory(name="Nordwind GmbH", date_format="d.m.Y")
    member(org, Role.FINANCE, username="fiona@nordwind.example", first_name="Fiona")
    with tenant_context(org):
        main_account()
        acme = CustomerFactory(name="Acme Metals", number="C-ACME")
        bolt = CustomerFactory(name="Bolt & Nut", number="C-BOLT")
        cedar = CustomerFactory(name="Cedar Timber Ltd", number="C-CEDAR")
        invoices = {
            "acme_big": issued_invoice(acme, "4200.00", invoice_date=JAN),
            "acme_small": issued_invoice(acme, "800.00", invoice_date=JAN),
            "bolt_first": issued_invoice(bolt, "350.00", invoice_date=JAN),
            "bolt_second": issued_invoice(bolt, "120.00", invoice_date=JAN),
            "cedar": issued_invoice(cedar, "999.00", invoice_date=JAN),
        }
        reference = payment_reference(invoices["acme_big"])

    def credit(amount, entry_reference, **fields):
        return ParsedEntry(
            booking_date=FEB,
            amount=Decimal(amount),
            currency="EUR",
            entry_reference=entry_reference,
            **fields,
        )

    lines = [
        credit("4200.00", "E1", structured_reference=reference, payer_name="ACME"),
        credit(
            "350.00",
            "E2",
            payer_name="Bolt and Nut",
            remittance=f"Invoice {invoices['bolt_first'].number} thank you",
        ),
        credit("920.00", "E3", payer_name="Shared Services BV", remittance="Feb"),
        credit("500.00", "E4", payer_name="Cedar Timber", remittance="advance"),
        # Only the amount points at Cedar's invoice: a suggestion, not a match.
        credit("999.00", "E5", payer_name="C. T. Holdings", remittance="Feb"),
    ]
    camt = tmp_path / "nordwind-2026-02.xml"
    camt.write_bytes(write_camt053(statement(lines, opening="10000.00")))
    return {
        "org": org, "camt": camt, "reference": reference,
        "acme": acme, "bolt": bolt, "cedar": cedar, **invoices,
    }  # fmt: skip


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill("fiona@nordwind.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def line_row(page, org, entry_reference):
    with tenant_context(org):
        pk = L.objects.get(entry_reference=entry_reference).pk
    return page.locator(f"#line-{pk}")


def test_finance_user_applies_a_bank_statement(laptop, live_server, books, tmp_path):
    page = laptop
    org = books["org"]
    sign_in(page, live_server)

    # Upload the camt.053 and wait for the import, then the matching.
    page.goto(f"{live_server.url}/bank/statements/")
    page.get_by_label("Bank account").select_option(index=1)
    page.get_by_label("File").set_input_files(str(books["camt"]))
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/bank/statements/jobs/\d+/$"))
    status = page.locator("#job-status")
    status.get_by_text("5 new lines").wait_for()
    page.get_by_role("link", name="Matching of the new lines").click()
    status.get_by_text("2 applied automatically, 3 in the exceptions queue").wait_for()
    page.screenshot(path=str(tmp_path / "matching.png"), full_page=True)

    # The automatic matches, each with its reason.
    page.get_by_role("link", name="Bank queue").first.click()
    automatic = page.locator("#automatic-table")
    rf_row, number_row = line_row(page, org, "E1"), line_row(page, org, "E2")
    assert "matched automatically" in rf_row.inner_text().lower()
    assert f"payment reference names {books['acme_big'].number}" in (
        rf_row.inner_text()
    )
    assert f"names {books['bolt_first'].number}" in number_row.inner_text()
    assert automatic.locator("tbody").count() == 2
    page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    # Exception 1, by keyboard and search: 920.00 pays Acme's 800.00 and
    # Bolt's 120.00. j moves to the first waiting line, Enter opens its split.
    split_row = line_row(page, org, "E3")
    page.keyboard.press("j")
    assert "is-current" in split_row.get_attribute("class")
    page.keyboard.press("Enter")
    search = split_row.get_by_placeholder("Number, customer or amount")
    assert search.evaluate("el => el === document.activeElement")
    search.fill("acme")
    split_row.get_by_role(
        "button", name=f"Add {books['acme_small'].number} to the split"
    ).click()
    search.fill(books["bolt_second"].number)
    split_row.get_by_role(
        "button", name=f"Add {books['bolt_second'].number} to the split"
    ).click()
    assert split_row.get_by_label("Amount 1").input_value() == "800.00"
    assert split_row.get_by_label("Amount 2").input_value() == "120.00"
    assert split_row.get_by_text("The whole line is allocated.").is_visible()
    page.screenshot(path=str(tmp_path / "split.png"), full_page=True)
    split_row.get_by_role("button", name="Apply split").click()
    split_row.get_by_text("Matched by a person").wait_for()

    # Exception 2: Cedar's advance goes on its account.
    account_row = line_row(page, org, "E4")
    account_row.get_by_text("Put on a customer's account").click()
    account_row.get_by_label("Customer number").fill("C-CEDAR")
    account_row.get_by_role("button", name="Put on account").click()
    # The line's status, not the button's "Put on account" (which a substring
    # match finds at once, before the answer: Enter then went to that button).
    account_row.get_by_text("On account", exact=True).first.wait_for()

    # The amount-only line: Enter opens it, Esc closes it again, "a" applies its
    # top suggestion (Cedar's invoice of that amount).
    suggested_row = line_row(page, org, "E5")
    suggested_row.locator("td").first.click()
    page.keyboard.press("Enter")
    split = suggested_row.locator("details[data-split]")
    assert split.evaluate("el => el.open")
    page.keyboard.press("Escape")
    assert not split.evaluate("el => el.open")
    assert books["cedar"].number in suggested_row.inner_text()
    page.keyboard.press("a")
    suggested_row.get_by_text("Matched by a person").wait_for()

    # Undo the automatic match of Bolt's first invoice.
    number_row.get_by_role("button", name="Undo").click()
    number_row.get_by_text("New", exact=True).wait_for()

    with tenant_context(books["org"]):
        open_amount = {
            name: Invoice.objects.get(pk=books[name].pk).open_amount
            for name in ("acme_big", "acme_small", "bolt_first", "bolt_second", "cedar")
        }
        assert open_amount == {
            "acme_big": 0, "acme_small": 0, "bolt_first": Decimal("350.00"),
            "bolt_second": 0, "cedar": 0,
        }  # fmt: skip
        status = dict(L.objects.values_list("entry_reference", "status"))
        assert status == {
            "E1": L.Status.MATCHED_AUTO, "E2": L.Status.NEW,
            "E3": L.Status.MATCHED_MANUAL, "E4": L.Status.ON_ACCOUNT,
            "E5": L.Status.MATCHED_MANUAL,
        }  # fmt: skip
        received = Payment.objects.filter(status=Payment.Status.RECEIVED)
        assert sorted(
            (p.customer.number, p.amount, p.unapplied_amount) for p in received
        ) == [
            ("C-ACME", Decimal("800.00"), 0),
            ("C-ACME", Decimal("4200.00"), 0),
            ("C-BOLT", Decimal("120.00"), 0),
            ("C-CEDAR", Decimal("500.00"), Decimal("500.00")),
            ("C-CEDAR", Decimal("999.00"), 0),
        ]
        reversed_payment = Payment.objects.get(status=Payment.Status.REVERSED)
        assert reversed_payment.amount == Decimal("350.00")
        active = Allocation.objects.filter(status=Allocation.Status.ACTIVE)
        assert sorted((a.invoice.number, a.amount) for a in active) == sorted(
            [
                (books["acme_big"].number, Decimal("4200.00")),
                (books["acme_small"].number, Decimal("800.00")),
                (books["bolt_second"].number, Decimal("120.00")),
                (books["cedar"].number, Decimal("999.00")),
            ]
        )
