"""The customer list sorted by balance or overdue, read from the receivables
summary: every customer in its place, with or without a summary row, whatever
the page size and direction."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from invoicing.selectors import customer_balances
from invoicing.services.summary import summary_refresh
from o2c.models import Role
from o2c.views import sort_ordering
from orders.models import Customer
from reconciliation.selectors import customers_by_amount, customers_with_balances
from tests.factories import CustomerFactory, issued_invoice, member, received_payment

pytestmark = pytest.mark.django_db
TODAY = date(2026, 6, 30)
SORTS = {
    "balance": ["currency", "balance", "id"],
    "overdue": ["currency", "overdue", "id"],
}


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False) as traveller:
        yield traveller


@pytest.fixture
def client(org):
    client = Client()
    client.force_login(member(org, Role.VIEWER))
    return client


@pytest.fixture
def book(tenant):
    """EUR customers owing, settled, never invoiced, in credit, owing in USD
    only; and a USD customer."""
    owing_most = CustomerFactory(name="Owing most")
    issued_invoice(owing_most, "300.00", invoice_date=date(2026, 5, 1))
    owing = CustomerFactory(name="Owing")
    issued_invoice(owing, "100.00", invoice_date=TODAY, due_date=TODAY)
    CustomerFactory(name="Never invoiced")
    settled = CustomerFactory(name="Settled")
    paid = issued_invoice(settled, "80.00", invoice_date=date(2026, 6, 1))
    received_payment(
        settled, "80.00", received_date=date(2026, 6, 10), allocations=[(paid, "80.00")]
    )
    in_credit = CustomerFactory(name="In credit")
    received_payment(in_credit, "50.00", received_date=date(2026, 6, 10))
    foreign = CustomerFactory(name="Owing in USD only")
    issued_invoice(foreign, "70.00", invoice_date=date(2026, 5, 1), currency="USD")
    dollar = CustomerFactory(name="Dollar account", currency="USD")
    issued_invoice(dollar, "20.00", invoice_date=date(2026, 5, 1), currency="USD")
    return Customer.objects.all()


def expected_order(customers, sort, direction):
    """The order by the ledger's figures (customer_balances), in Python."""

    def figure(customer):
        for row in customer_balances(customer=customer):
            if row.currency == customer.currency:
                return getattr(row, sort)
        return Decimal(0)

    rows = [(c.currency, figure(c), c.pk, c.name) for c in customers]
    descending = direction == "desc"
    rows.sort(key=lambda r: (r[1], r[2]), reverse=descending)
    rows.sort(key=lambda r: r[0])  # stable: currency ascending, always
    return [name for *_, name in rows]


def walk(customers, ordering, page_size):
    """Every page forwards, then back again from the last one."""
    pages, cursor = [], ""
    while True:
        page = customers_by_amount(
            customers, ordering=ordering, cursor=cursor, page_size=page_size
        )
        pages.append(page)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    forwards = [c.name for page in pages for c in page.rows]
    backwards, cursor = [], pages[-1].previous_cursor
    while cursor:
        page = customers_by_amount(
            customers, ordering=ordering, cursor=cursor, page_size=page_size
        )
        backwards = [c.name for c in page.rows] + backwards
        cursor = page.previous_cursor
    backwards += [c.name for c in pages[-1].rows] if len(pages) > 1 else []
    return forwards, backwards, len(pages)


@pytest.mark.parametrize("sort", ["balance", "overdue"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 50])
def test_every_customer_in_its_place_on_every_page(book, sort, direction, page_size):
    ordering = sort_ordering(SORTS[sort], direction, grouped_by={"currency"})
    summary_refresh()

    forwards, backwards, pages = walk(book, ordering, page_size)

    assert forwards == expected_order(book, sort, direction)
    if pages > 1:
        assert backwards == forwards


def test_largest_balance_first_then_settled_then_in_credit(book):
    summary_refresh()
    page = customers_by_amount(
        book, ordering=sort_ordering(SORTS["balance"], "desc", grouped_by={"currency"})
    )
    assert [(c.name, c.balance) for c in page.rows] == [
        ("Owing most", Decimal("300.000")),
        ("Owing", Decimal("100.000")),
        # No EUR row, a zero row, no row at all: zero, newest customer first.
        ("Owing in USD only", Decimal(0)),
        ("Settled", Decimal("0.000")),
        ("Never invoiced", Decimal(0)),
        ("In credit", Decimal("-50.000")),
        ("Dollar account", Decimal("20.000")),
    ]


def test_the_figures_are_the_ledgers(book):
    summary_refresh()
    listed = {c.pk: c for c in customers_with_balances(book)}
    for customer in book:
        account = [
            row
            for row in customer_balances(customer=customer)
            if row.currency == customer.currency
        ]
        figures = listed[customer.pk]
        if account:
            (row,) = account
            assert figures.balance == row.balance
            assert figures.invoices_open == row.invoices_open
            assert figures.unapplied_cash == row.unapplied_cash
            assert figures.overdue == row.overdue
        else:
            assert figures.balance == figures.overdue == 0


def test_an_invoice_falls_overdue_with_the_calendar(client, book, _today):
    # "Owing" has 100.00 due today: not overdue yet.
    response = client.get("/customers/?sort=overdue&dir=desc")
    rows = {c.name: c.overdue for c in response.context["page"].rows}
    assert rows["Owing"] == 0

    _today.shift(timedelta(days=1))
    client.force_login(member(book.first().organization, Role.VIEWER))  # a new day

    response = client.get("/customers/?sort=overdue&dir=desc")
    names = [c.name for c in response.context["page"].rows]
    rows = {c.name: c.overdue for c in response.context["page"].rows}
    assert rows["Owing"] == Decimal("100.000")
    assert names[:2] == ["Owing most", "Owing"]
