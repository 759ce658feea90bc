"""Early-payment discounts ("2/10 net 30"), as the finance team checks them: the
discount an invoice was issued with, on its page, PDF and API; the bank line that
pays the invoice less the discount within the terms, and the same amount after
them; undo; the ledger."""

import io
import re
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from pypdf import PdfReader

from invoicing.documents import render_invoice_pdf
from invoicing.models import Invoice, LedgerEntry
from invoicing.references import payment_reference
from o2c.checks import run_ledger_checks
from orders.services.master import payment_term_update
from reconciliation.models import Discount, StatementLine, WriteOff
from reconciliation.services.bank_accounts import reconciliation_settings_update
from reconciliation.services.lines import line_undo
from reconciliation.services.matching import line_apply_suggestion, lines_match
from reports.selectors.history import statement as account_statement_of
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    PaymentTermFactory,
    issued_invoice,
    member,
)
from tests.reconciliation.bank import entry, import_statements, main_account, statement

L = StatementLine.Status
ISSUED = date(2026, 12, 6)
DISCOUNT_DATE = date(2026, 12, 16)  # 10 days after the invoice date


@pytest.fixture
def account(tenant):
    return main_account()


@pytest.fixture
def two_ten_net_30(tenant):
    return PaymentTermFactory(
        name="2/10 net 30", days=30, discount_percent=Decimal(2), discount_days=10
    )


@pytest.fixture
def customer(two_ten_net_30):
    return CustomerFactory(name="Hanse Logistik GmbH", payment_term=two_ten_net_30)


@pytest.fixture
def invoice(customer):
    return issued_invoice(customer, "1000.00", invoice_date=ISSUED)


def receive(account, *entries):
    result = import_statements(account, [statement(list(entries))])
    lines_match(line_ids=result.new_credit_line_ids)
    return [StatementLine.objects.get(pk=pk) for pk in result.new_credit_line_ids]


def by_reference(invoice, amount, day, **fields):
    return entry(
        amount,
        booking_date=day,
        structured_reference=payment_reference(invoice).replace(" ", ""),
        **fields,
    )


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


# --- the discount as issued ---------------------------------------------------------


def test_invoice_keeps_the_discount_it_was_issued_with(invoice, two_ten_net_30):
    assert invoice.due_date == date(2027, 1, 5)
    assert (invoice.discount_percent, invoice.discount_date) == (2, DISCOUNT_DATE)
    assert invoice.discount_amount == Decimal("20.00")

    payment_term_update(
        term=two_ten_net_30,
        discount_percent=Decimal(3),
        discount_days=14,
        actor=SYSTEM,
    )

    invoice.refresh_from_db()
    assert (invoice.discount_amount, invoice.discount_date) == (
        Decimal("20.00"),
        DISCOUNT_DATE,
    )
    later = issued_invoice(invoice.customer, "1000.00", invoice_date=ISSUED)
    assert (later.discount_amount, later.discount_date) == (
        Decimal("30.00"),
        date(2026, 12, 20),
    )


@pytest.mark.parametrize(
    ("currency", "total", "discount"),
    [
        ("EUR", "999.99", "20.00"),  # 19.9998
        ("JPY", "12345", "247"),  # 246.9
        ("KWD", "100.125", "2.003"),  # 2.0025, half up
    ],
)
def test_discount_is_rounded_to_the_currency_minor_unit(
    two_ten_net_30, currency, total, discount
):
    customer = CustomerFactory(payment_term=two_ten_net_30, currency=currency)
    invoice = issued_invoice(customer, total, invoice_date=ISSUED, currency=currency)
    assert invoice.discount_amount == Decimal(discount)


def test_terms_without_discount_leave_the_invoice_without_one(tenant):
    invoice = issued_invoice(CustomerFactory(), "1000.00", invoice_date=ISSUED)
    assert invoice.discount_amount is None and invoice.discount_date is None


def test_invoice_pdf_offers_the_discount(invoice):
    invoice.organization.date_format = "d.m.Y"
    invoice.organization.save()

    text = pdf_text(render_invoice_pdf(invoice))

    assert "2 % discount (€20.00) if paid by 16.12.2026" in text
    assert "pay €980.00 instead of €1,000.00" in text


def test_invoice_api_shows_the_discount(invoice, api):
    body = api.get(f"/api/v1/invoices/{invoice.pk}/").json()

    assert body["discount_percent"] == "2.00"
    assert body["discount_date"] == "2026-12-16"
    assert body["discount_amount"] == "20.00"
    assert body["total"] == "1000.00"


def test_invoice_page_shows_the_discount(invoice, client, org):
    client.force_login(member(org))
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()

    assert "Early-payment discount" in page
    assert "2 % (" in page and "20.00" in page


# --- matching ------------------------------------------------------------------------


def test_paid_within_terms_less_the_discount_is_applied_and_the_discount_posted(
    account, invoice
):
    (line,) = receive(account, by_reference(invoice, "980.00", DISCOUNT_DATE))

    assert line.status == L.MATCHED_AUTO
    invoice.refresh_from_db()
    assert (invoice.open_amount, invoice.status) == (0, Invoice.Status.PAID)
    assert line.payments.get().allocations.get().amount == Decimal("980.00")
    discount = Discount.objects.get()
    assert (discount.amount, discount.invoice) == (Decimal("20.00"), invoice)
    entry_ = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISCOUNT)
    assert (entry_.amount, entry_.posting_date) == (Decimal("-20.00"), DISCOUNT_DATE)
    assert not WriteOff.objects.exists()
    assert "2 % early-payment discount taken, paid within terms" in line.match_reason
    assert run_ledger_checks() == []


def test_grace_days_after_the_discount_date_still_earn_it(account, invoice):
    # Default grace: 3 days for the transfer to arrive.
    day = DISCOUNT_DATE + timedelta(days=3)
    (line,) = receive(account, by_reference(invoice, "980.00", day))

    assert line.status == L.MATCHED_AUTO
    assert Discount.objects.get().amount == Decimal("20.00")


def test_value_date_decides_not_the_booking_date(account, invoice):
    late_booking = DISCOUNT_DATE + timedelta(days=10)
    (line,) = receive(
        account,
        by_reference(invoice, "980.00", late_booking, value_date=DISCOUNT_DATE),
    )

    assert line.status == L.MATCHED_AUTO
    assert Discount.objects.get().discount_date == late_booking


def test_after_the_discount_terms_the_same_amount_is_a_short_payment(account, invoice):
    day = DISCOUNT_DATE + timedelta(days=4)  # one day past the grace
    (line,) = receive(account, by_reference(invoice, "980.00", day))

    # No tolerance set: 20.00 short is a partial payment for a person.
    assert line.status == L.NEEDS_REVIEW
    assert not Discount.objects.exists()
    invoice.refresh_from_db()
    assert invoice.open_amount == Decimal("1000.00")
    assert "partial payment" in line.suggestions.first().reasons[-1]


def test_after_the_terms_within_tolerance_it_is_written_off_not_discounted(
    account, invoice
):
    reconciliation_settings_update(
        short_payment_tolerance_amounts={"EUR": "25.00"}, actor=SYSTEM
    )
    day = DISCOUNT_DATE + timedelta(days=4)
    (line,) = receive(account, by_reference(invoice, "980.00", day))

    assert line.status == L.MATCHED_AUTO
    assert not Discount.objects.exists()
    assert WriteOff.objects.get().amount == Decimal("20.00")
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISCOUNT).exists()


def test_grace_days_are_a_setting(account, invoice):
    reconciliation_settings_update(discount_grace_days=0, actor=SYSTEM)
    (line,) = receive(
        account, by_reference(invoice, "980.00", DISCOUNT_DATE + timedelta(days=1))
    )
    assert line.status == L.NEEDS_REVIEW
    assert not Discount.objects.exists()


def test_switched_off_no_discount_is_granted(account, invoice):
    reconciliation_settings_update(early_payment_discount=False, actor=SYSTEM)
    (line,) = receive(account, by_reference(invoice, "980.00", DISCOUNT_DATE))
    assert line.status == L.NEEDS_REVIEW
    assert not Discount.objects.exists()


def test_full_amount_within_terms_takes_no_discount(account, invoice):
    (line,) = receive(account, by_reference(invoice, "1000.00", DISCOUNT_DATE))
    assert line.status == L.MATCHED_AUTO
    assert not Discount.objects.exists()


def test_undo_reverses_the_discount_too(account, invoice):
    (line,) = receive(account, by_reference(invoice, "980.00", DISCOUNT_DATE))

    line_undo(line=line, actor=SYSTEM)

    invoice.refresh_from_db()
    assert (invoice.open_amount, invoice.status) == (
        Decimal("1000.00"),
        Invoice.Status.OPEN,
    )
    assert Discount.objects.get().status == Discount.Status.REVERSED
    discount_entries = LedgerEntry.objects.filter(
        document_type="reconciliation.discount"
    )
    assert sorted(e.amount for e in discount_entries) == [
        Decimal("-20.00"),
        Decimal("20.00"),
    ]
    assert run_ledger_checks() == []


def test_known_payer_without_reference_pays_less_the_discount(account, customer):
    first = issued_invoice(customer, "500.00", invoice_date=ISSUED)
    second = issued_invoice(customer, "1000.00", invoice_date=ISSUED)
    receive(
        account,
        by_reference(first, "490.00", DISCOUNT_DATE, payer_account="DE0212030000"),
    )

    (line,) = receive(
        account,
        entry(
            "980.00",
            booking_date=DISCOUNT_DATE,
            bank_reference="second",
            payer_account="DE0212030000",
        ),
    )

    assert line.status == L.MATCHED_AUTO
    second.refresh_from_db()
    assert second.status == Invoice.Status.PAID
    assert Discount.objects.filter(invoice=second).get().amount == Decimal("20.00")


# --- a person in the exceptions queue -------------------------------------------------


def test_a_suggestion_with_the_discount_is_applied_by_a_person(account, invoice):
    # Two invoices of the customer, the text names both: the engine proposes
    # the one paid less its discount, below the threshold.
    reconciliation_settings_update(auto_apply_threshold=100, actor=SYSTEM)
    (line,) = receive(account, by_reference(invoice, "980.00", DISCOUNT_DATE))
    assert line.status == L.NEEDS_REVIEW
    suggestion = line.suggestions.first()
    assert suggestion.invoices[0]["discount"] == "20.00"

    line = line_apply_suggestion(line=line, suggestion=suggestion, actor=SYSTEM)

    assert line.status == L.MATCHED_MANUAL
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Discount.objects.get().amount == Decimal("20.00")


def test_a_person_splitting_by_hand_is_offered_the_discount(
    account, invoice, client, org
):
    client.force_login(member(org))
    (line,) = receive(
        account, entry("980.00", booking_date=DISCOUNT_DATE, payer_name="Someone")
    )
    assert line.status == L.NEEDS_REVIEW

    found = client.get(f"/bank/lines/{line.pk}/invoices/", {"q": invoice.number})
    text = found.content.decode()
    assert "2 % early-payment discount" in text and "allocate" in text
    assert 'data-amount="980.000"' in text or 'data-amount="980.00"' in text

    response = client.post(
        f"/bank/lines/{line.pk}/split/",
        {"invoice": [invoice.number], "amount": ["980.00"], "take_discounts": "1"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200, response.content.decode()
    line.refresh_from_db()
    assert line.status == L.MATCHED_MANUAL
    assert "early-payment discount 20.00 EUR on " + invoice.number in line.match_reason
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Discount.objects.get().amount == Decimal("20.00")
    assert run_ledger_checks() == []


def test_a_split_after_the_terms_grants_no_discount(account, invoice, client, org):
    client.force_login(member(org))
    late = DISCOUNT_DATE + timedelta(days=4)
    (line,) = receive(account, entry("980.00", booking_date=late, payer_name="X"))

    found = client.get(f"/bank/lines/{line.pk}/invoices/", {"q": invoice.number})
    assert "early-payment discount" not in found.content.decode()
    client.post(
        f"/bank/lines/{line.pk}/split/",
        {"invoice": [invoice.number], "amount": ["980.00"], "take_discounts": "1"},
        HTTP_HX_REQUEST="true",
    )

    invoice.refresh_from_db()
    assert (invoice.open_amount, invoice.status) == (
        Decimal("20.00"),
        Invoice.Status.PARTIALLY_PAID,
    )
    assert not Discount.objects.exists()


def test_verify_ledger_accepts_discounts_and_catches_one_that_disagrees(
    account, invoice, org
):
    (line,) = receive(account, by_reference(invoice, "980.00", DISCOUNT_DATE))
    assert line.status == L.MATCHED_AUTO
    out = StringIO()
    call_command("verify_ledger", "--org", org.slug, stdout=out)
    assert out.getvalue().strip() == f"{org.slug}: ledger consistent"

    # A discount row that no longer agrees with its ledger credit, and an
    # invoice granted more than it was issued with, are both reported.
    Discount.objects.update(amount=Decimal("25.00"))
    Invoice.objects.filter(pk=invoice.pk).update(discount_amount=Decimal("10.00"))
    problems = run_ledger_checks()
    assert any("25.00 granted but ledger says 20.00" in p for p in problems), problems
    assert any("exceed the discount it was issued with" in p for p in problems)
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--org", org.slug, stdout=StringIO())


def test_statement_of_account_shows_discounts_apart_from_write_offs(account, invoice):
    receive(account, by_reference(invoice, "980.00", DISCOUNT_DATE))

    with time_machine.travel(date(2026, 12, 31)):
        account_statement = account_statement_of(
            customer=invoice.customer, start=ISSUED, end=date(2026, 12, 31)
        )

    rows = dict(account_statement.category_rows)
    assert rows["Early-payment discounts"] == Decimal("-20.00")
    assert rows["Write-offs"] == 0
    assert rows["Payments"] == Decimal("-980.00")
    assert account_statement.closing_balance == 0
