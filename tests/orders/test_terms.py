"""Payment terms: due dates and instalment schedules a credit controller would check."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import InvoiceInstalment
from invoicing.services.invoices import LineInput, invoice_create
from o2c.errors import DomainError
from orders.models import PaymentTerm
from orders.services.master import payment_term_create
from orders.services.terms import due_schedule
from tests.factories import SYSTEM, CustomerFactory


def term(kind, days=0, instalments=()):
    return PaymentTerm(kind=kind, days=days, instalments=list(instalments))


def net(days):
    return term(PaymentTerm.Kind.NET, days)


def end_of_month(days):
    return term(PaymentTerm.Kind.END_OF_MONTH, days)


def instalments(*parts):
    return term(
        PaymentTerm.Kind.INSTALMENTS,
        instalments=[{"percent": p, "days": d} for p, d in parts],
    )


@pytest.mark.parametrize(
    ("invoice_date", "due"),
    [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 1, 31), date(2026, 3, 2)),  # February has 28 days in 2026
        (date(2024, 1, 31), date(2024, 3, 1)),  # ... and 29 in 2024
        (date(2025, 12, 15), date(2026, 1, 14)),
    ],
)
def test_net_30_is_thirty_calendar_days_after_the_invoice_date(invoice_date, due):
    assert due_schedule(net(30), invoice_date, Decimal("100.00"), "EUR") == [
        (due, Decimal("100.00"))
    ]


def test_net_0_is_due_on_the_invoice_date():
    assert due_schedule(net(0), date(2026, 5, 5), Decimal("1"), "JPY") == [
        (date(2026, 5, 5), Decimal("1"))
    ]


@pytest.mark.parametrize(
    ("invoice_date", "due"),
    [
        (date(2026, 1, 1), date(2026, 2, 10)),
        (date(2026, 1, 31), date(2026, 2, 10)),
        (date(2026, 2, 1), date(2026, 3, 10)),  # 28 Feb + 10
        (date(2026, 2, 28), date(2026, 3, 10)),
        (date(2024, 2, 29), date(2024, 3, 10)),  # leap day + 10
        (date(2024, 2, 10), date(2024, 3, 10)),  # 29 Feb + 10
        (date(2028, 2, 15), date(2028, 3, 10)),
        (date(2100, 2, 15), date(2100, 3, 10)),  # 2100 is not a leap year
        (date(2026, 4, 30), date(2026, 5, 10)),
        (date(2025, 12, 31), date(2026, 1, 10)),  # across the year end
    ],
)
def test_end_of_month_plus_10(invoice_date, due):
    assert due_schedule(end_of_month(10), invoice_date, Decimal("9.99"), "EUR") == [
        (due, Decimal("9.99"))
    ]


@pytest.mark.parametrize(
    ("invoice_date", "due"),
    [
        (date(2024, 2, 3), date(2024, 2, 29)),
        (date(2023, 2, 3), date(2023, 2, 28)),
        (date(2026, 6, 1), date(2026, 6, 30)),
    ],
)
def test_end_of_month_plus_0_is_the_last_day_of_the_month(invoice_date, due):
    assert due_schedule(end_of_month(0), invoice_date, Decimal(5), "EUR")[0][0] == due


def test_two_instalments_of_fifty_percent():
    schedule = due_schedule(
        instalments(("50", 30), ("50", 60)), date(2026, 1, 15), Decimal("999.99"), "EUR"
    )
    assert schedule == [
        (date(2026, 2, 14), Decimal("500.00")),
        (date(2026, 3, 16), Decimal("499.99")),
    ]


@pytest.mark.parametrize(
    ("total", "currency", "amounts"),
    [
        ("100.00", "EUR", ["33.33", "33.33", "33.34"]),
        ("1000.00", "EUR", ["333.30", "333.30", "333.40"]),
        ("10000", "JPY", ["3333", "3333", "3334"]),
        ("100", "JPY", ["33", "33", "34"]),
        ("1.000", "KWD", ["0.333", "0.333", "0.334"]),
        ("250.125", "KWD", ["83.367", "83.367", "83.391"]),
    ],
)
def test_three_instalments_put_the_remainder_on_the_last(total, currency, amounts):
    schedule = due_schedule(
        instalments(("33.33", 30), ("33.33", 60), ("33.34", 90)),
        date(2026, 3, 31),
        Decimal(total),
        currency,
    )
    assert [d for d, _ in schedule] == [
        date(2026, 4, 30),
        date(2026, 5, 30),
        date(2026, 6, 29),
    ]
    assert [str(a) for _, a in schedule] == amounts
    assert sum(a for _, a in schedule) == Decimal(total)


@pytest.mark.parametrize(
    ("total", "currency", "amounts"),
    [
        ("1001", "JPY", ["501", "500"]),
        ("0.001", "KWD", ["0.001", "0.000"]),
        ("10.005", "KWD", ["5.003", "5.002"]),
    ],
)
def test_fifty_fifty_on_odd_amounts_stays_exact_in_the_minor_unit(
    total, currency, amounts
):
    schedule = due_schedule(
        instalments(("50", 0), ("50", 30)), date(2026, 1, 1), Decimal(total), currency
    )
    assert [str(a) for _, a in schedule] == amounts


@pytest.fixture
def customer(tenant):
    return CustomerFactory()


def test_instalment_invoice_stores_its_schedule_exact_in_jpy(customer):
    customer.payment_term = payment_term_create(
        name="Thirds",
        kind="instalments",
        instalments=[
            {"percent": "33.33", "days": 30},
            {"percent": "33.33", "days": 60},
            {"percent": "33.34", "days": 90},
        ],
        actor=SYSTEM,
    )
    customer.save()
    invoice = invoice_create(
        customer=customer,
        currency="JPY",
        invoice_date=date(2026, 1, 31),
        lines=[LineInput("Consulting", Decimal(1), Decimal(100001))],
        actor=SYSTEM,
    )
    rows = list(
        InvoiceInstalment.objects.filter(invoice=invoice).values_list(
            "sequence", "due_date", "amount"
        )
    )
    assert rows == [
        (1, date(2026, 3, 2), Decimal("33330")),
        (2, date(2026, 4, 1), Decimal("33330")),
        (3, date(2026, 5, 1), Decimal("33341")),
    ]
    # The invoice is due when its first instalment is.
    assert invoice.due_date == date(2026, 3, 2)


def test_end_of_month_invoice_in_kwd(customer):
    customer.payment_term = payment_term_create(
        name="EOM+10", kind="end_of_month", days=10, actor=SYSTEM
    )
    customer.save()
    invoice = invoice_create(
        customer=customer,
        currency="KWD",
        invoice_date=date(2028, 2, 3),
        lines=[LineInput("Service", Decimal(3), Decimal("1.125"))],
        actor=SYSTEM,
    )
    assert invoice.total == Decimal("3.375")
    assert invoice.due_date == date(2028, 3, 10)
    (instalment,) = invoice.instalments.all()
    assert (instalment.due_date, instalment.amount) == (
        date(2028, 3, 10),
        Decimal("3.375"),
    )


def test_an_explicit_due_date_wins_over_the_terms(customer):
    invoice = invoice_create(
        customer=customer,
        invoice_date=date(2026, 1, 1),
        due_date=date(2026, 1, 20),
        lines=[LineInput("Goods", Decimal(1), Decimal("10.00"))],
        actor=SYSTEM,
    )
    assert invoice.due_date == date(2026, 1, 20)
    with pytest.raises(DomainError) as refused:
        invoice_create(
            customer=customer,
            invoice_date=date(2026, 1, 1),
            due_date=date(2025, 12, 31),
            lines=[LineInput("Goods", Decimal(1), Decimal("10.00"))],
            actor=SYSTEM,
        )
    assert refused.value.field == "due_date"


@pytest.mark.parametrize(
    ("kind", "days", "parts", "field", "message"),
    [
        ("net", 30, [{"percent": "100", "days": 30}], "instalments", "only allowed"),
        ("instalments", 0, [{"percent": "100", "days": 30}], "instalments", "two"),
        (
            "instalments",
            0,
            [{"percent": "50", "days": 30}, {"percent": "40", "days": 60}],
            "instalments",
            "add up to 100, not 90",
        ),
        (
            "instalments",
            0,
            [{"percent": "50", "days": 60}, {"percent": "50", "days": 30}],
            "instalments[1].days",
            "increasing days",
        ),
        (
            "instalments",
            0,
            [{"percent": "0", "days": 30}, {"percent": "100", "days": 60}],
            "instalments[0]",
            "Percent must be",
        ),
        (
            "instalments",
            0,
            [{"percent": "fifty", "days": 30}, {"percent": "50", "days": 60}],
            "instalments[0]",
            "percent and a number of days",
        ),
        ("net", -1, [], "days", "Days must be"),
        ("net", 4000, [], "days", "Days must be"),
        ("weekly", 7, [], "kind", "Unknown kind"),
    ],
)
def test_invalid_terms_are_refused_with_the_field(
    tenant, kind, days, parts, field, message
):
    with pytest.raises(DomainError) as refused:
        payment_term_create(
            name="Bad", kind=kind, days=days, instalments=parts, actor=SYSTEM
        )
    assert refused.value.field == field
    assert message in refused.value.message
    assert not PaymentTerm.objects.filter(name="Bad").exists()
