"""The browser pages: sign-in, tenancy, the numbers they show, filters, paging."""

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from invoicing.models import Invoice
from invoicing.selectors import customer_balances
from invoicing.services.invoices import LineInput, credit_note_create
from o2c.models import Membership, Role
from o2c.tenancy import tenant_context
from orders.models import Customer, SalesOrderLine
from orders.selectors import keyset_page
from orders.services.orders import (
    OrderLineInput,
    fulfillment_create,
    order_confirm,
    order_create,
)
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    UserFactory,
    issued_invoice,
    member,
    received_payment,
)

# 1 March 2026 in Berlin, where the organizations of the factories keep their books.
TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def collector(org):
    return member(org, Role.COLLECTOR, first_name="Cora", last_name="Collins")


@pytest.fixture
def client(org):
    user = member(org, Role.VIEWER)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def book(tenant, collector):
    """Four customers with what a finance person would expect on 1 March 2026.

    * Alpha Metals (EUR): 1,000.00 due 31 Jan, of which 300.00 paid by a payment of
      400.00 (100.00 unapplied); 250.50 due 17 Mar; a USD invoice of 80.00.
      EUR balance 950.50 - 100.00 = 850.50, overdue 700.00.
    * Beta Foods (EUR, on credit hold): 5,000.00 due 9 Feb, overdue.
    * Gamma Tools (USD): 1,234.56 due 3 Mar, not overdue.
    * Delta Empty (EUR): nothing.
    """
    alpha = CustomerFactory(
        name="Alpha Metals", number="C-100", segment="enterprise", collector=collector
    )
    beta = CustomerFactory(
        name="Beta Foods", number="C-200", segment="smb", on_credit_hold=True
    )
    gamma = CustomerFactory(name="Gamma Tools", number="C-300", currency="USD")
    delta = CustomerFactory(name="Delta Empty", number="C-400", segment="smb")
    a1 = issued_invoice(
        alpha, "1000.00", invoice_date=date(2026, 1, 1), due_date=date(2026, 1, 31)
    )
    a2 = issued_invoice(
        alpha, "250.50", invoice_date=date(2026, 2, 15), due_date=date(2026, 3, 17)
    )
    a_usd = issued_invoice(
        alpha,
        "80.00",
        currency="USD",
        invoice_date=date(2026, 2, 1),
        due_date=date(2026, 4, 1),
    )
    payment = received_payment(
        alpha, "400.00", received_date=date(2026, 2, 10), allocations=[(a1, "300.00")]
    )
    b1 = issued_invoice(
        beta, "5000.00", invoice_date=date(2026, 1, 10), due_date=date(2026, 2, 9)
    )
    c1 = issued_invoice(
        gamma, "1234.56", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 3)
    )
    return {
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "delta": delta,
        "a1": a1,
        "a2": a2,
        "a_usd": a_usd,
        "b1": b1,
        "c1": c1,
        "payment": payment,
    }


@pytest.fixture
def foreign(other_org):
    """A customer with an invoice, a payment and an order in another organization."""
    with tenant_context(other_org):
        customer = CustomerFactory(name="Foreign Corp")
        invoice = issued_invoice(customer, "99.00")
        payment = received_payment(customer, "10.00")
        order = order_create(
            customer=customer,
            order_date=date(2026, 2, 1),
            lines=[
                OrderLineInput(
                    quantity=Decimal(1), unit_price=Decimal("5.00"), description="Box"
                )
            ],
            actor=SYSTEM,
        )
        credit_note = credit_note_create(
            invoice=invoice,
            credit_date=date(2026, 1, 2),
            reason="Damaged",
            lines=[
                LineInput(
                    description="Refund", quantity=Decimal(1), unit_price=Decimal(1)
                )
            ],
            actor=SYSTEM,
        )
    return {
        "customer": customer,
        "invoice": invoice,
        "payment": payment,
        "order": order,
        "credit_note": credit_note,
    }


def text(response) -> str:
    """The response as a person reads it: tags dropped, whitespace collapsed."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def rows_by_name(response) -> dict[str, Customer]:
    return {customer.name: customer for customer in response.context["page"].rows}


# --- access -------------------------------------------------------------------------

PAGES = [
    "/",
    "/customers/",
    "/customers/1/",
    "/customers/1/account/",
    "/customers/1/payments/",
    "/orders/",
    "/orders/1/",
    "/invoices/",
    "/invoices/1/",
    "/invoices/1/pdf/",
    "/payments/",
    "/payments/1/",
    "/receivables/summary/",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_sign_in(db, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", ["/", "/customers/", "/invoices/", "/payments/"])
def test_a_user_without_organization_is_told_what_to_do(db, url):
    client = Client()
    client.force_login(UserFactory())

    response = client.get(url)

    assert response.status_code == 403
    assert "not a member of any organization" in text(response)


def test_login_page_signs_in_and_lands_on_the_overview(org):
    member(org, Role.FINANCE, username="fin@example.com")
    client = Client()

    page = client.get("/login/")
    response = client.post(
        "/login/",
        {"username": "fin@example.com", "password": "correct-horse-1"},
        follow=True,
    )

    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()
    assert response.redirect_chain[-1][0] == "/"
    assert org.name in text(response)


def test_wrong_password_is_refused_on_the_login_page(org):
    member(org, Role.FINANCE, username="fin@example.com")

    response = Client().post(
        "/login/", {"username": "fin@example.com", "password": "nope"}
    )

    assert response.status_code == 200
    assert "enter a correct" in text(response).lower()


def test_the_shell_names_the_organization_and_links_only_existing_pages(client, org):
    response = client.get("/")
    html = response.content.decode()

    assert org.name in html
    for url in ("/customers/", "/orders/", "/invoices/", "/payments/", "/api/docs/"):
        assert f'href="{url}"' in html
    nav = html[html.index('<nav class="sidebar"') : html.index("</nav>")]
    assert "Collections" not in nav and "Reports" not in nav
    assert 'action="/logout/"' in html
    assert '<script src="/static/vendor/htmx.min.js"' in html
    # one organization: no switcher
    assert 'name="organization"' not in html


def test_the_switcher_lists_the_users_organizations_and_switches(org, other_org):
    user = member(org, Role.FINANCE)
    Membership.objects.create(organization=other_org, user=user, role=Role.VIEWER)
    client = Client()
    client.force_login(user)

    html = client.get("/").content.decode()
    client.post("/switch-organization/", {"organization": other_org.pk})
    after = client.get("/")

    assert 'name="organization"' in html
    assert other_org.name in html
    assert after.context["organization"] == other_org


# --- the overview -------------------------------------------------------------------


def test_overview_panel_shows_open_and_overdue_per_currency(client, book):
    response = client.get("/receivables/summary/")
    totals = {row.currency: row for row in response.context["totals"]}

    # EUR open: 700.00 + 250.50 + 5,000.00; overdue: 700.00 + 5,000.00
    assert totals["EUR"].open_amount == Decimal("5950.50")
    assert totals["EUR"].overdue_amount == Decimal("5700.00")
    assert totals["EUR"].overdue_invoices == 2
    assert totals["EUR"].overdue_customers == 2
    # USD: 80.00 + 1,234.56, nothing overdue
    assert totals["USD"].open_amount == Decimal("1314.56")
    assert totals["USD"].overdue_amount == Decimal("0.00")
    assert response.context["customer_count"] == 4
    assert "5,950.50" in text(response)


def test_landing_page_loads_its_panels_with_htmx(client, book):
    html = client.get("/").content.decode()

    assert 'hx-get="/dashboard/forecast/"' in html
    assert 'hx-get="/dashboard/collections/"' in html


def test_empty_overview_says_where_to_start(client, tenant):
    response = client.get("/receivables/summary/")

    assert "Start with your customers" in text(response)


# --- customer list ------------------------------------------------------------------


def test_customer_list_shows_balance_and_overdue_in_account_currency(client, book):
    response = client.get("/customers/")
    rows = rows_by_name(response)

    assert response.status_code == 200
    alpha = rows["Alpha Metals"]
    assert alpha.invoices_open == Decimal("950.50")
    assert alpha.unapplied_cash == Decimal("100.00")
    assert alpha.balance == Decimal("850.50")
    assert alpha.overdue == Decimal("700.00")
    assert [(b.currency, b.balance) for b in alpha.other_balances] == [
        ("USD", Decimal("80.00"))
    ]
    assert rows["Beta Foods"].balance == Decimal("5000.00")
    assert rows["Beta Foods"].overdue == Decimal("5000.00")
    assert rows["Gamma Tools"].balance == Decimal("1234.56")
    assert rows["Gamma Tools"].overdue == Decimal(0)
    assert rows["Delta Empty"].balance == Decimal(0)
    page = text(response)
    assert "850.50 EUR" in page
    assert "100.00 EUR unapplied" in page
    assert "+ 80.00 USD" in page
    assert "5,000.00 EUR" in page
    assert "1,234.56 USD" in page


def test_customer_list_balance_agrees_with_the_ledger(client, book):
    rows = rows_by_name(client.get("/customers/"))

    for name in ("Alpha Metals", "Beta Foods", "Gamma Tools"):
        row = rows[name]
        ledger = {b.currency: b for b in customer_balances(customer=row)}
        assert row.balance == ledger[row.currency].balance
        assert row.overdue == ledger[row.currency].overdue
        assert row.unapplied_cash == ledger[row.currency].unapplied_cash


def test_customer_list_numbers_are_right_aligned_with_currency(client, book):
    html = client.get("/customers/").content.decode()

    assert re.search(
        r'<td class="num[^"]*">\s*<span class="money">850\.50 '
        r'<span class="ccy">EUR</span></span>',
        html,
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=alpha", ["Alpha Metals"]),
        ("q=C-20", ["Beta Foods"]),
        ("segment=smb", ["Beta Foods", "Delta Empty"]),
        ("hold=yes", ["Beta Foods"]),
        ("hold=no", ["Alpha Metals", "Delta Empty", "Gamma Tools"]),
        ("currency=usd", ["Gamma Tools"]),
    ],
)
def test_customer_list_filters(client, book, query, expected):
    response = client.get(f"/customers/?{query}")

    assert [c.name for c in response.context["page"].rows] == expected
    assert response.context["count"] == len(expected)


def test_customer_list_filters_by_collector(client, book, collector):
    response = client.get(f"/customers/?collector={collector.pk}")

    assert [c.name for c in response.context["page"].rows] == ["Alpha Metals"]
    assert "Cora Collins" in text(response)


ALPHA, BETA, GAMMA, DELTA = "Alpha Metals", "Beta Foods", "Gamma Tools", "Delta Empty"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [ALPHA, BETA, DELTA, GAMMA]),
        ("sort=name&dir=desc", [GAMMA, DELTA, BETA, ALPHA]),
        ("sort=number&dir=asc", [ALPHA, BETA, GAMMA, DELTA]),
        # amounts are compared within a currency: EUR customers first, then USD
        ("sort=balance&dir=desc", [BETA, ALPHA, DELTA, GAMMA]),
        ("sort=balance&dir=asc", [DELTA, ALPHA, BETA, GAMMA]),
        ("sort=overdue&dir=desc", [BETA, ALPHA, DELTA, GAMMA]),
    ],
)
def test_customer_list_sorts(client, book, query, expected):
    response = client.get(f"/customers/?{query}")

    assert [c.name for c in response.context["page"].rows] == expected


def test_search_as_you_type_swaps_only_the_table(client, book):
    page = client.get("/customers/").content.decode()
    partial = client.get("/customers/?q=beta", headers={"HX-Request": "true"})

    assert 'hx-trigger="keyup changed delay:300ms, search"' in page
    assert 'hx-target="#customer-results"' in page
    assert 'hx-push-url="true"' in page
    assert "<html" not in partial.content.decode()
    assert "Beta Foods" in text(partial) and "Alpha Metals" not in text(partial)
    assert "HX-Request" in partial["Vary"]


def test_history_restore_gets_the_whole_page(client, book):
    response = client.get(
        "/customers/?q=beta",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )

    assert "<html" in response.content.decode()


def test_empty_customer_list_explains_what_to_do(client, tenant):
    page = text(client.get("/customers/"))

    assert "No customers yet" in page
    assert "Imports" in page and "API" in page


def test_no_match_says_so(client, book):
    assert "No customer matches" in text(client.get("/customers/?q=zzz"))


def test_customer_list_pages_by_key(client, tenant):
    term = CustomerFactory(name="Customer 000", number="N000").payment_term
    Customer.objects.bulk_create(
        Customer(
            organization=tenant,
            name=f"Customer {n:03d}",
            number=f"N{n:03d}",
            currency="EUR",
            payment_term=term,
        )
        for n in range(1, 60)
    )

    first = client.get("/customers/")
    cursor = first.context["page"].next_cursor
    second = client.get(f"/customers/?cursor={cursor}")
    back = client.get(f"/customers/?cursor={second.context['page'].previous_cursor}")

    assert [c.name for c in first.context["page"].rows][-1] == "Customer 049"
    assert [c.name for c in second.context["page"].rows] == [
        f"Customer {n:03d}" for n in range(50, 60)
    ]
    assert second.context["page"].next_cursor == ""
    assert [c.name for c in back.context["page"].rows] == [
        f"Customer {n:03d}" for n in range(50)
    ]
    assert back.context["page"].is_first
    assert first.context["count"] == 60


def test_a_tampered_cursor_shows_the_first_page(client, book):
    response = client.get("/customers/?cursor=not-a-cursor")

    assert response.status_code == 200
    assert response.context["page"].rows[0].name == "Alpha Metals"


def test_keyset_pages_through_ties_on_amounts_both_ways(tenant):
    term = CustomerFactory(name="seed", number="S").payment_term
    Customer.objects.bulk_create(
        Customer(
            organization=tenant,
            name=f"Same {n}",
            number=f"T{n}",
            currency="EUR",
            payment_term=term,
            credit_limit=Decimal("10.00") if n % 2 else Decimal("20.00"),
        )
        for n in range(7)
    )
    customers = Customer.objects.exclude(number="S")
    ordering = ["-credit_limit", "id"]
    expected = list(customers.order_by(*ordering))

    seen, cursor, pages = [], "", []
    while True:
        page = keyset_page(customers, ordering=ordering, cursor=cursor, page_size=3)
        pages.append(page)
        seen += page.rows
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    back = keyset_page(
        customers, ordering=ordering, cursor=pages[-1].previous_cursor, page_size=3
    )

    assert seen == expected
    assert [len(p.rows) for p in pages] == [3, 3, 1]
    assert back.rows == pages[-2].rows


# --- customer page ------------------------------------------------------------------


def test_customer_page_shows_master_data_and_loads_its_panels(client, book, collector):
    alpha = book["alpha"]
    alpha.credit_limit = Decimal("25000.00")
    alpha.save()

    response = client.get(f"/customers/{alpha.pk}/")
    page = text(response)

    assert response.status_code == 200
    assert "C-100" in page
    assert alpha.payment_term.name in page
    assert "25,000.00 EUR" in page
    assert "Cora Collins" in page
    assert "enterprise" in page
    assert "Medium" in page
    html = response.content.decode()
    assert f'hx-get="/customers/{alpha.pk}/account/"' in html
    assert f'hx-get="/customers/{alpha.pk}/payments/"' in html


def test_customer_account_panel_shows_balances_open_and_paid_invoices(client, book):
    alpha = book["alpha"]
    with tenant_context(alpha.organization):
        issued = issued_invoice(alpha, "40.00", invoice_date=date(2026, 2, 20))
        received_payment(
            alpha,
            "40.00",
            received_date=date(2026, 2, 25),
            allocations=[(issued, "40.00")],
        )

    response = client.get(f"/customers/{alpha.pk}/account/")
    balances = {b.currency: b for b in response.context["balances"]}
    open_numbers = [i.number for i in response.context["open_invoices"].rows]

    assert balances["EUR"].balance == Decimal("850.50")
    assert balances["EUR"].overdue == Decimal("700.00")
    assert balances["USD"].balance == Decimal("80.00")
    assert open_numbers == [book["a1"].number, book["a2"].number, book["a_usd"].number]
    assert [i.number for i in response.context["paid_invoices"].rows] == [issued.number]
    page = text(response)
    assert "700.00 EUR" in page
    assert "29" in page  # a1 was due 31 Jan: 29 days overdue on 1 Mar


def test_customer_payments_panel_shows_unapplied_cash(client, book):
    response = client.get(f"/customers/{book['alpha'].pk}/payments/")

    assert [p.number for p in response.context["unapplied"]] == [book["payment"].number]
    assert "100.00 EUR" in text(response)


def test_customer_without_anything_has_empty_panels_that_explain(client, book):
    delta = book["delta"]

    account = text(client.get(f"/customers/{delta.pk}/account/"))
    payments = text(client.get(f"/customers/{delta.pk}/payments/"))

    assert "Nothing posted yet" in account
    assert "No payments received" in payments


# --- invoices -----------------------------------------------------------------------


def numbers(response) -> list[str]:
    return sorted(invoice.number for invoice in response.context["page"].rows)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=partially_paid", ["a1"]),
        ("status=outstanding&currency=usd", ["a_usd", "c1"]),
        ("overdue=on", ["a1", "b1"]),
        ("due_from=2026-03-01&due_to=2026-03-31", ["a2", "c1"]),
        ("amount_min=1000&amount_max=1500", ["a1", "c1"]),
        ("currency=USD", ["a_usd", "c1"]),
    ],
)
def test_invoice_list_filters(client, book, query, expected):
    response = client.get(f"/invoices/?{query}")

    assert numbers(response) == sorted(book[key].number for key in expected)


def test_invoice_list_filters_by_customer_and_number(client, book):
    by_customer = client.get(f"/invoices/?customer={book['beta'].pk}")
    by_number = client.get(f"/invoices/?q={book['c1'].number}")

    assert numbers(by_customer) == [book["b1"].number]
    assert "Customer: Beta Foods" in text(by_customer)
    assert numbers(by_number) == [book["c1"].number]


def test_invoice_list_with_a_foreign_customer_shows_nothing(client, book, foreign):
    response = client.get(f"/invoices/?customer={foreign['customer'].pk}")

    assert numbers(response) == []
    assert "No customer with id" in text(response)


def test_invoice_list_with_a_bad_date_shows_the_error_not_a_crash(client, book):
    response = client.get("/invoices/?due_from=31.02.2026")

    assert response.status_code == 200
    assert "is not a date in the calendar; write it as YYYY-MM-DD" in text(response)
    assert len(response.context["page"].rows) == 5


def test_invoice_list_sorts_by_due_date(client, book):
    response = client.get("/invoices/?sort=due_date&dir=asc")

    assert [i.number for i in response.context["page"].rows] == [
        book[key].number for key in ("a1", "b1", "c1", "a2", "a_usd")
    ]


def test_invoice_detail_shows_lines_totals_ledger_and_credit_notes(client, book):
    a1 = book["a1"]
    with tenant_context(a1.organization):
        credit_note_create(
            invoice=a1,
            credit_date=date(2026, 2, 20),
            reason="Price correction",
            lines=[
                LineInput(
                    description="Discount",
                    quantity=Decimal(1),
                    unit_price=Decimal("50.00"),
                )
            ],
            actor=SYSTEM,
        )

    response = client.get(f"/invoices/{a1.pk}/")
    page = text(response)
    entries = list(response.context["invoice"].ledger_entries.all())

    assert response.status_code == 200
    assert "Price correction" in page
    assert "1,000.00 EUR" in page
    # invoice 1,000.00, payment 300.00, credit note 50.00: open 650.00
    assert [e.running_balance for e in entries] == [
        Decimal("1000.00"),
        Decimal("700.00"),
        Decimal("650.00"),
    ]
    assert "650.00 EUR" in page
    html = response.content.decode()
    assert f'href="/invoices/{a1.pk}/pdf/"' in html, (
        "'invoice-pdf' must name the page's download; the API router's pdf action "
        "registers the same name (invoice-pdf) unless given another url_name"
    )
    assert f'hx-get="/invoices/{a1.pk}/settlements/"' in html


def test_invoice_settlements_panel_lists_allocations(client, book):
    response = client.get(f"/invoices/{book['a1'].pk}/settlements/")

    assert book["payment"].number in text(response)
    assert "300.00 EUR" in text(response)


def test_invoice_pdf_downloads_as_attachment(client, book):
    pytest.importorskip("invoicing.documents")
    invoice = book["a1"]

    response = client.get(f"/invoices/{invoice.pk}/pdf/")
    body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment")
    assert body.startswith(b"%PDF")


def test_credit_note_pdf_downloads_as_attachment(client, book):
    pytest.importorskip("invoicing.documents")
    with tenant_context(book["a1"].organization):
        note = credit_note_create(
            invoice=book["a1"],
            credit_date=date(2026, 2, 20),
            reason="Damaged",
            lines=[
                LineInput(
                    description="Refund", quantity=Decimal(1), unit_price=Decimal(5)
                )
            ],
            actor=SYSTEM,
        )

    response = client.get(f"/credit-notes/{note.pk}/pdf/")

    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{note.number}.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")


# --- orders -------------------------------------------------------------------------


@pytest.fixture
def shipped_order(book):
    """3 x 100.00 + 2 x 25.00 at 19 % tax; 2 of the first line shipped and invoiced."""
    order = order_create(
        customer=book["beta"],
        order_date=date(2026, 2, 1),
        customer_reference="PO-7781",
        lines=[
            OrderLineInput(
                quantity=Decimal(3),
                unit_price=Decimal("100.00"),
                tax_rate=Decimal(19),
                description="Pallet",
            ),
            OrderLineInput(
                quantity=Decimal(2),
                unit_price=Decimal("25.00"),
                tax_rate=Decimal(19),
                description="Crate",
            ),
        ],
        actor=SYSTEM,
    )
    order = order_confirm(order=order, actor=SYSTEM, override_credit_check=True)
    pallet = SalesOrderLine.objects.get(order=order, position=1)
    fulfillment_create(
        order=order,
        lines=[(pallet, Decimal(2))],
        shipped_date=date(2026, 2, 3),
        carrier="DHL",
        actor=SYSTEM,
    )
    from invoicing.services.invoices import invoice_create_from_order

    invoice = invoice_create_from_order(
        order=order, invoice_date=date(2026, 2, 4), actor=SYSTEM
    )
    return order, invoice


def test_order_list_shows_net_amount_and_filters(client, shipped_order):
    order, _ = shipped_order

    everything = client.get("/orders/")
    by_reference = client.get("/orders/?q=PO-7781")
    by_status = client.get("/orders/?status=cancelled")

    assert [o.number for o in everything.context["page"].rows] == [order.number]
    assert everything.context["page"].rows[0].net_total == Decimal("350.00")
    assert "350.00 EUR" in text(everything)
    assert [o.number for o in by_reference.context["page"].rows] == [order.number]
    assert by_status.context["page"].rows == []


def test_order_detail_shows_quantities_shipments_and_loads_invoices(
    client, shipped_order
):
    order, invoice = shipped_order

    response = client.get(f"/orders/{order.pk}/")
    lines = {p.line.description: p for p in response.context["amounts"].lines}
    panel = client.get(f"/orders/{order.pk}/invoices/")

    pallet = lines["Pallet"].line
    assert (pallet.quantity, pallet.quantity_fulfilled, pallet.quantity_invoiced) == (
        Decimal(3),
        Decimal(2),
        Decimal(2),
    )
    # 350.00 net + 19 % tax = 416.50
    assert response.context["amounts"].total == Decimal("416.50")
    assert "416.50 EUR" in text(response)
    assert "DHL" in text(response)
    assert f'hx-get="/orders/{order.pk}/invoices/"' in response.content.decode()
    assert [i.pk for i in panel.context["invoices"]] == [invoice.pk]


# --- payments -----------------------------------------------------------------------


def test_payment_list_filters(client, book):
    with tenant_context(book["beta"].organization):
        other = received_payment(
            book["beta"], "5000.00", received_date=date(2026, 2, 27),
            allocations=[(book["b1"], "5000.00")],
        )  # fmt: skip

    everything = client.get("/payments/")
    unapplied = client.get("/payments/?unapplied=on")
    by_date = client.get("/payments/?received_from=2026-02-20")
    by_reference = client.get(f"/payments/?q={other.number}")

    assert [p.number for p in everything.context["page"].rows] == [
        other.number,
        book["payment"].number,
    ]
    assert [p.number for p in unapplied.context["page"].rows] == [
        book["payment"].number
    ]
    assert [p.number for p in by_date.context["page"].rows] == [other.number]
    assert [p.number for p in by_reference.context["page"].rows] == [other.number]


def test_payment_detail_shows_allocations_and_unapplied(client, book):
    payment = book["payment"]

    response = client.get(f"/payments/{payment.pk}/")
    page = text(response)

    assert response.context["applied"] == Decimal("300.00")
    assert "400.00 EUR" in page
    assert "300.00 EUR" in page
    assert "100.00 EUR" in page
    assert book["a1"].number in page


# --- tenancy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/customers/{customer}/",
        "/customers/{customer}/account/",
        "/customers/{customer}/payments/",
        "/invoices/{invoice}/",
        "/invoices/{invoice}/settlements/",
        "/invoices/{invoice}/pdf/",
        "/credit-notes/{credit_note}/pdf/",
        "/orders/{order}/",
        "/orders/{order}/invoices/",
        "/payments/{payment}/",
    ],
)
def test_another_organizations_ids_answer_404(client, book, foreign, url):
    ids = {name: row.pk for name, row in foreign.items()}

    response = client.get(url.format(**ids))

    assert response.status_code == 404


def test_lists_show_only_the_organizations_rows(client, book, foreign):
    # numbers are per organization (both have an INV-000001): compare rows
    assert foreign["customer"].organization_id != book["alpha"].organization_id
    for url, row in [
        ("/customers/", foreign["customer"]),
        ("/invoices/", foreign["invoice"]),
        ("/payments/", foreign["payment"]),
        ("/orders/", foreign["order"]),
    ]:
        rows = client.get(url).context["page"].rows
        assert row.organization_id not in {r.organization_id for r in rows}


# --- formatting ---------------------------------------------------------------------


def test_dates_follow_the_organization_format(client, org, book):
    org.date_format = "d.m.Y"
    org.save()

    page = text(client.get(f"/invoices/{book['a1'].pk}/"))

    assert "31.01.2026" in page
    assert "2026-01-31" not in page


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("1234567.5", "EUR", "en", "1,234,567.50"),
        ("1234567.5", "EUR", "de", "1.234.567,50"),
        ("1234.4", "JPY", "en", "1,234"),
        ("1.2345", "KWD", "en", "1.235"),
        ("-20", "EUR", "en", "-20.00"),
    ],
)
def test_money_filter_rounds_to_minor_units_and_groups(
    org, amount, currency, locale, expected
):
    from o2c.templatetags.o2c_tags import money

    org.locale = locale
    with tenant_context(org):
        html = money(Decimal(amount), currency)

    assert f">{expected} <span" in html
    assert f'<span class="ccy">{currency}</span>' in html


def test_issued_invoice_keeps_its_status_badge(client, book):
    response = client.get("/invoices/?status=open")

    assert "badge-open" in response.content.decode()
    assert all(i.status == Invoice.Status.OPEN for i in response.context["page"].rows)


def test_paid_invoices_page_inside_the_customer_panel(client, book):
    gamma = book["gamma"]
    with tenant_context(gamma.organization):
        for day in range(1, 13):
            invoice = issued_invoice(
                gamma, "10.00", currency="USD", invoice_date=date(2026, 1, day)
            )
            received_payment(
                gamma,
                "10.00",
                received_date=date(2026, 1, day),
                allocations=[(invoice, "10.00")],
            )

    first = client.get(f"/customers/{gamma.pk}/account/")
    cursor = first.context["paid_invoices"].next_cursor
    second = client.get(f"/customers/{gamma.pk}/account/?paid_cursor={cursor}")
    html = first.content.decode()

    assert len(first.context["paid_invoices"].rows) == 10
    assert [i.invoice_date.day for i in second.context["paid_invoices"].rows] == [2, 1]
    # the pager swaps the panel it sits in
    assert 'id="customer-account-panel"' in html
    assert 'hx-target="#customer-account-panel"' in html
    assert 'hx-swap="outerHTML"' in html
