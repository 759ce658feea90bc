"""Payment plans in the browser: the proposal, row errors, the plan page with its
instalments from the ledger, cancelling, the timeline and the dunning pause."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from collecting.models import PaymentPlan
from collecting.selectors import paused_invoices
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, issued_invoice, member, received_payment

NOW = datetime(2026, 2, 10, 9, tzinfo=ZoneInfo("Europe/Berlin"))
HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def german(org):
    org.date_format = "d.m.Y"
    org.save(update_fields=["date_format"])
    return org


@pytest.fixture
def books(german):
    with time_machine.travel(NOW, tick=False), tenant_context(german):
        customer = CustomerFactory(name="Planned GmbH", email="ap@planned.example")
        first = issued_invoice(
            customer,
            "150.00",
            invoice_date=date(2025, 12, 1),
            due_date=date(2026, 1, 1),
        )
        second = issued_invoice(
            customer,
            "50.00",
            invoice_date=date(2025, 12, 15),
            due_date=date(2026, 1, 15),
        )
        not_due = issued_invoice(
            customer, "30.00", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 3)
        )
    return {"customer": customer, "overdue": [first, second], "not_due": not_due}


def plan_data(books, rows, **terms):
    data = {
        "invoices": [str(invoice.pk) for invoice in books["overdue"]],
        "count": "3",
        "first_date": "01.03.2026",
        "interval": "monthly",
        "note": "Agreed on the phone",
        "rows-TOTAL_FORMS": str(len(rows)),
        "rows-INITIAL_FORMS": "0",
        **terms,
    }
    for index, (due, amount) in enumerate(rows):
        data[f"rows-{index}-due_date"] = due
        data[f"rows-{index}-amount"] = amount
    return data


def new_url(books):
    return f"/collections/customers/{books['customer'].pk}/plans/new/"


@pytest.mark.django_db
def test_the_form_ticks_the_overdue_invoices_and_proposes_three_rows(german, books):
    collector = member(german, Role.COLLECTOR)
    with time_machine.travel(NOW, tick=False):
        page = client_for(collector).get(new_url(books))
    assert page.status_code == 200
    html = page.text
    for invoice in books["overdue"]:
        assert f'value="{invoice.pk}" id="plan-invoice-{invoice.pk}" ' in html
        assert (
            f'id="plan-invoice-{invoice.pk}" aria-label="{invoice.number}" checked'
            in html
        )
    assert f'aria-label="{books["not_due"].number}">' in html  # not ticked
    # 200.00 in three: the remainder cent on the last; monthly from a month on.
    assert 'id="plan-total"' in html and "200.00" in html
    assert [
        (page.context["rows"].forms[i].initial["due_date"],
         page.context["rows"].forms[i].initial["amount"])
        for i in range(3)
    ] == [
        (date(2026, 3, 10), Decimal("66.67")),
        (date(2026, 4, 10), Decimal("66.67")),
        (date(2026, 5, 10), Decimal("66.66")),
    ]  # fmt: skip
    # Dates are shown in the organization's format.
    assert 'value="10.03.2026"' in html and 'value="66.66"' in html
    assert 'placeholder="DD.MM.YYYY"' in html


@pytest.mark.django_db
def test_changing_the_terms_proposes_weekly_rows_from_a_typed_date(german, books):
    collector = member(german, Role.COLLECTOR)
    with time_machine.travel(NOW, tick=False):
        answer = client_for(collector).post(
            new_url(books),
            {**plan_data(books, [], count="2", first_date="28.02.2026",
                         interval="weekly"), "propose": "1"},
            **HTMX,
        )  # fmt: skip
    assert answer.status_code == 200
    assert 'id="plan-form"' in answer.text and "<html" not in answer.text
    assert 'value="28.02.2026"' in answer.text and 'value="07.03.2026"' in answer.text
    assert answer.text.count('value="100.00"') == 2


@pytest.mark.django_db
def test_a_collector_creates_a_plan_that_pauses_dunning_and_shows_on_the_timeline(
    german, books
):
    collector = member(german, Role.COLLECTOR)
    client = client_for(collector)
    rows = [("10.03.2026", "100.00"), ("10.04.2026", "60.00"), ("2026-05-10", "40.00")]
    with time_machine.travel(NOW, tick=False):
        answer = client.post(new_url(books), plan_data(books, rows), **HTMX)
        assert answer.status_code == 204, answer.text
        with tenant_context(german):
            plan = PaymentPlan.objects.get()
        assert answer["HX-Redirect"] == f"/collections/plans/{plan.pk}/"
        detail = client.get(f"/collections/plans/{plan.pk}/")
        timeline = client.get(
            f"/collections/customers/{books['customer'].pk}/timeline/"
        )
    with tenant_context(german):
        assert plan.total_amount == Decimal("200.00")
        assert [(i.due_date, i.amount) for i in plan.instalments.all()] == [
            (date(2026, 3, 10), Decimal("100.00")),
            (date(2026, 4, 10), Decimal("60.00")),
            (date(2026, 5, 10), Decimal("40.00")),
        ]
        overdue_ids = [invoice.pk for invoice in books["overdue"]]
        assert paused_invoices(invoice_ids=overdue_ids) == dict.fromkeys(
            overdue_ids, "payment_plan"
        )
    assert "10.04.2026" in detail.text and "60.00" in detail.text
    assert f"Payment plan #{plan.pk}: 3 instalments" in timeline.text
    assert f'href="/collections/plans/{plan.pk}/"' in timeline.text


@pytest.mark.parametrize(
    ("rows", "message", "row_number"),
    [
        (
            [
                ("10.03.2026", "100.00"),
                ("10.04.2026", "60.00"),
                ("10.05.2026", "39.99"),
            ],
            "they add up to 199.99 EUR (+0.01 EUR)",
            None,
        ),
        (
            [
                ("10.03.2026", "100.00"),
                ("01.03.2026", "60.00"),
                ("10.05.2026", "40.00"),
            ],
            "Instalment 2: 01.03.2026 must come after instalment 1&#x27;s date, "
            "10.03.2026.",
            2,
        ),
        (
            [
                ("01.02.2026", "100.00"),
                ("10.04.2026", "60.00"),
                ("10.05.2026", "40.00"),
            ],
            "Instalment 1: 01.02.2026 is in the past.",
            1,
        ),
        (
            [
                ("10.03.2026", "100.00"),
                ("04/10/2026", "60.00"),
                ("10.05.2026", "40.00"),
            ],
            "Instalment 2 date: &#x27;04/10/2026&#x27; is not a date in the calendar; "
            "write it as DD.MM.YYYY (or YYYY-MM-DD).",
            2,
        ),
        (
            [
                ("10.03.2026", "100.00"),
                ("10.04.2026", "sixty"),
                ("10.05.2026", "40.00"),
            ],
            "Instalment 2: enter the amount as a number, e.g. 1,250.00.",
            2,
        ),
    ],
)
@pytest.mark.django_db
def test_a_wrong_row_is_named_the_input_kept_and_nothing_saved(
    german, books, rows, message, row_number
):
    collector = member(german, Role.COLLECTOR)
    with time_machine.travel(NOW, tick=False):
        answer = client_for(collector).post(
            new_url(books), plan_data(books, rows), **HTMX
        )
    assert answer.status_code == 422
    assert message in answer.text
    assert "Nothing was saved." in answer.text
    for due, amount in rows:  # as typed
        assert f'value="{due}"' in answer.text
        assert f'value="{amount}"' in answer.text
    if row_number:
        row = answer.text.split(f'data-row="{row_number}"')[1].split("</tr>")[0]
        assert "has-error" in answer.text.split(f'data-row="{row_number}"')[0][-80:]
        assert message.split(":")[0] in row
    with tenant_context(german):
        assert not PaymentPlan.objects.exists()


@pytest.mark.django_db
def test_a_viewer_cannot_create_a_plan(german, books):
    viewer = member(german, Role.VIEWER)
    with time_machine.travel(NOW, tick=False):
        client = client_for(viewer)
        assert client.get(new_url(books)).status_code == 403
        rows = [("10.03.2026", "200.00")]
        assert client.post(new_url(books), plan_data(books, rows)).status_code == 403
    with tenant_context(german):
        assert not PaymentPlan.objects.exists()


@pytest.mark.django_db
def test_instalment_states_come_from_the_ledger_and_a_plan_is_cancelled_with_a_reason(
    german, books
):
    finance = member(german, Role.FINANCE)
    client = client_for(finance)
    rows = [("20.02.2026", "100.00"), ("10.03.2026", "60.00"), ("10.04.2026", "40.00")]
    with time_machine.travel(NOW, tick=False):
        client.post(new_url(books), plan_data(books, rows))
    with tenant_context(german):
        plan = PaymentPlan.objects.get()
        first, second = books["overdue"]
    # 130.00 paid on 15.02.: instalment 1 paid, 30.00 towards instalment 2.
    paid_on = datetime(2026, 2, 15, 9, tzinfo=NOW.tzinfo)
    with time_machine.travel(paid_on, tick=False), tenant_context(german):
        received_payment(
            books["customer"], "130.00", received_date=date(2026, 2, 15),
            allocations=[(first, "130.00")],
        )  # fmt: skip
    with time_machine.travel(datetime(2026, 3, 12, 9, tzinfo=NOW.tzinfo), tick=False):
        client.force_login(finance)  # weeks later: the idle session has ended
        detail = client.get(f"/collections/plans/{plan.pk}/")
        states = [
            (s.sequence, s.paid_amount, s.state) for s in detail.context["instalments"]
        ]
        assert states == [
            (1, Decimal("100.00"), "paid"),
            (2, Decimal("30.00"), "overdue"),
            (3, Decimal("0"), "due"),
        ]
        refused = client.post(
            f"/collections/plans/{plan.pk}/cancel/", {"reason": " "}, **HTMX
        )
        assert refused.status_code == 422
        assert "Say why the plan is cancelled." in refused.text
        with tenant_context(german):
            assert PaymentPlan.objects.get().status == "active"
        client.post(
            f"/collections/plans/{plan.pk}/cancel/",
            {"reason": "Customer asked to pay in full instead"},
        )
        page = client.get(f"/collections/plans/{plan.pk}/")
    with tenant_context(german):
        plan.refresh_from_db()
        assert plan.status == "cancelled"
        event = AuditEvent.objects.get(
            object_type="collecting.paymentplan", to_status="cancelled"
        )
        assert event.data["note"] == "Customer asked to pay in full instead"
        assert event.actor_user == finance
        assert paused_invoices(invoice_ids=[second.pk]) == {}
    assert "Customer asked to pay in full instead" in page.text
