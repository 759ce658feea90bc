"""Browser pages at scale, each beside raw SQL for the data the page shows.

``bench_web(organization, report)``:

a. the customers list (first page of 50) sorted by name, by balance and by overdue,
   and a search, signed in, beside one raw SQL that computes the same page's rows
   (names plus open and overdue receivables per customer and currency);
b. the customer page of the customer with the most invoices, with the panels it loads
   (balances and invoices; payments), beside raw SQL for its balances;
c. the search box: the dropdown for a customer's name, an invoice number and a
   payment's amount, and the results page, beside raw SQL for the invoices it finds
   (the trigram index on PostgreSQL answers both);
d. invoice PDF render time per invoice (WeasyPrint), beside rendering the same
   invoice's HTML only, which shows what the PDF engine itself costs;
e. the clerk's forms for the customer with the most open invoices: a new invoice, a
   new payment with its open invoices listed, and the payment form's suggestion of
   where an amount goes (oldest first), beside raw SQL for that customer's open
   invoices.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from unittest import mock
from urllib.parse import quote

from django.db import connection
from django.db.models import Count
from django.test import Client

from invoicing import documents
from invoicing.documents import render_invoice_pdf
from invoicing.models import Invoice
from o2c.models import Membership, Organization, Role
from o2c.tenancy import tenant_context
from orders.models import Customer
from reconciliation.models import Payment

Report = Callable[[str, float, float | None, str], None]

CUSTOMER_PAGE_SQL = """
SELECT c.id, c.name, i.currency,
       SUM(i.open_amount) AS open_total,
       SUM(CASE WHEN i.due_date < %s THEN i.open_amount ELSE 0 END) AS overdue
FROM orders_customer c
LEFT JOIN invoicing_invoice i
  ON i.customer_id = c.id AND i.organization_id = c.organization_id
 AND i.status IN ('open', 'partially_paid')
WHERE c.organization_id = %s
GROUP BY c.id, c.name, i.currency
ORDER BY {order} LIMIT 50
"""

BALANCE_SQL = """
SELECT currency, SUM(amount) FROM invoicing_ledgerentry
WHERE organization_id = %s AND customer_id = %s GROUP BY currency
"""


def bench_web(organization: Organization, report: Report, *, samples: int = 7):
    with tenant_context(organization):
        client = _signed_in(organization)
        today = organization.today()
        _customer_list(organization, client, report, today, samples)
        _customer_page(organization, client, report, samples)
        _search(client, report, samples)
        _forms(organization, client, report, samples)
        _pdf(organization, report, samples)


def _signed_in(organization: Organization) -> Client:
    membership = (
        Membership.objects.filter(organization=organization, role=Role.ADMIN)
        .select_related("user")
        .first()
    )
    client = Client()
    client.force_login(membership.user)
    return client


def _customer_list(organization, client, report, today, samples):
    pages = {
        "by name": ("/customers/", "c.name, c.id"),
        "by balance (largest first)": (
            "/customers/?sort=balance&dir=desc",
            "i.currency, open_total DESC, c.id",
        ),
        "by overdue (largest first)": (
            "/customers/?sort=overdue&dir=desc",
            "i.currency, overdue DESC, c.id",
        ),
    }
    for label, (url, order) in pages.items():
        seconds = _median(lambda url=url: _get(client, url), samples)
        sql = CUSTOMER_PAGE_SQL.format(order=order)
        baseline = _median(
            lambda sql=sql: _fetch(sql, [today, organization.pk]), samples
        )
        report(f"customers list, {label}", seconds, baseline, url)
    name = Customer.objects.order_by("?").values_list("name", flat=True).first()
    term = name.split()[0]
    seconds = _median(lambda: _get(client, f"/customers/?q={term}"), samples)
    report("customers list, search", seconds, None, f"q={term}")


def _customer_page(organization, client, report, samples):
    busiest = (
        Customer.objects.annotate(invoice_count=Count("invoices"))
        .order_by("-invoice_count")
        .values_list("pk", "invoice_count")
        .first()
    )
    customer_id, invoice_count = busiest
    urls = [
        f"/customers/{customer_id}/",
        f"/customers/{customer_id}/account/",
        f"/customers/{customer_id}/payments/",
    ]

    def page():
        for url in urls:
            _get(client, url)

    seconds = _median(page, samples)
    baseline = _median(
        lambda: _fetch(BALANCE_SQL, [organization.pk, customer_id]), samples
    )
    report(
        "customer page with its panels",
        seconds,
        baseline,
        f"customer with the most invoices ({invoice_count})",
    )


SEARCH_INVOICES_SQL = """
SELECT id FROM invoicing_invoice
WHERE organization_id = %s
  AND (number IN (%s, UPPER(%s)) OR UPPER(number) LIKE UPPER(%s)
       OR UPPER(customer_reference) LIKE UPPER(%s))
ORDER BY id DESC LIMIT 5
"""


def _search(client, report, samples):
    invoice = Invoice.objects.exclude(number=None).order_by("?").first()
    payment = Payment.objects.order_by("?").first()
    name = Customer.objects.order_by("?").values_list("name", flat=True).first()
    amount = f"{payment.amount:.2f}".replace(".", ",")
    queries = {
        "customer name": name.split()[0],
        "invoice number": invoice.number,
        "payment amount": amount,
    }
    for label, query in queries.items():
        url = f"/search/suggestions/?q={quote(query)}"
        seconds = _median(lambda url=url: _get(client, url), samples)
        like = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params = [invoice.organization_id, query, query, f"{like}%", f"%{like}%"]
        baseline = _median(lambda p=params: _fetch(SEARCH_INVOICES_SQL, p), samples)
        report(f"search dropdown, {label}", seconds, baseline, f"q={query}")
    url = f"/search/?q={quote(invoice.number)}"
    seconds = _median(lambda: _get(client, url), samples)
    report("search results page, invoice number", seconds, None, url)


OPEN_INVOICES_SQL = """
SELECT id, number, due_date, open_amount FROM invoicing_invoice
WHERE organization_id = %s AND customer_id = %s AND currency = %s
  AND status IN ('open', 'partially_paid')
ORDER BY due_date, id
"""


def _forms(organization, client, report, samples):
    customer_id, open_count = (
        Invoice.objects.filter(status__in=["open", "partially_paid"])
        .values("customer_id")
        .annotate(open_count=Count("id"))
        .order_by("-open_count")
        .values_list("customer_id", "open_count")
        .first()
    )
    customer = Customer.objects.get(pk=customer_id)
    note = f"customer with the most open invoices ({open_count})"
    baseline = _median(
        lambda: _fetch(
            OPEN_INVOICES_SQL, [organization.pk, customer.pk, customer.currency]
        ),
        samples,
    )
    seconds = _median(lambda: _get(client, "/invoices/new/"), samples)
    report("invoice form", seconds, None, "/invoices/new/")
    seconds = _median(
        lambda: _get(client, f"/invoices/new/?customer={customer.pk}"), samples
    )
    report("invoice form for a customer", seconds, baseline, note)
    seconds = _median(
        lambda: _get(client, f"/payments/new/?customer={customer.pk}"), samples
    )
    report("payment form with open invoices", seconds, baseline, note)
    amount = Invoice.objects.filter(
        customer=customer, status__in=["open", "partially_paid"]
    ).order_by("due_date", "pk")[:3]
    typed = f"{sum(invoice.open_amount for invoice in amount):.2f}"
    data = {"customer": customer.pk, "currency": customer.currency}
    data |= {"amount": typed, "suggest": "1"}

    def suggest():
        response = client.post("/payments/new/", data, HTTP_HX_REQUEST="true")
        if response.status_code != 200:
            raise RuntimeError(f"payment suggestion answered {response.status_code}")

    seconds = _median(suggest, samples)
    report("payment form, suggested allocation", seconds, baseline, f"{note}, {typed}")


def _pdf(organization, report, samples):
    invoices = list(
        Invoice.objects.filter(status__in=Invoice.ISSUED)
        .order_by("-id")
        .select_related("customer")[: max(samples, 5)]
    )
    render_invoice_pdf(invoices[0])  # fonts and stylesheet loaded once
    seconds = statistics.median(
        _time(lambda i=i: render_invoice_pdf(i)) for i in invoices
    )
    # The same call with WeasyPrint's layout stubbed out: data and HTML only.
    with mock.patch.object(documents, "HTML") as html_only:
        html_only.return_value.write_pdf.return_value = b""
        baseline = statistics.median(
            _time(lambda i=i: render_invoice_pdf(i)) for i in invoices
        )
    report(
        "invoice PDF, per invoice", seconds, baseline, "baseline: data and HTML only"
    )


def _get(client: Client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return response


def _fetch(sql: str, params: list) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _time(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _median(call, samples: int) -> float:
    call()  # warm caches for both sides alike
    return statistics.median(_time(call) for _ in range(samples))
