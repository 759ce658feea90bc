"""The benchmarks. Each measures O2C's way and a baseline in the same run.

a. writes: invoices created + issued and payments with one allocation, through the
   services, beside plain INSERTs of the same business rows (invoice, line,
   instalment, ledger entry; payment, allocation, ledger entries) in one
   transaction each. The services also lock rows, check the ledger history and
   write audit events: the ratio is what those guarantees cost. Then a batch of
   1,000 issued invoices through the batch service and through
   ``POST /api/v1/invoices/batch/``, beside the same one-by-one raw INSERTs.
b. customer balance: ``GET /api/v1/customers/{id}/balance/`` beside the one
   GROUP BY over the customer's ledger entries.
c. invoice lists: ``GET /api/v1/invoices/?…`` beside the SQL for the same page.
d. seeding: the bulk loader's invoices per second (from seeding).

For the API figures the queries one request runs are captured and the slowest is
EXPLAINed, so a slow figure comes with its plan.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.setup import vacuum_if_unattended
from invoicing.models import (
    Invoice,
    InvoiceInstalment,
    InvoiceLine,
    LedgerEntry,
    ReceivablesSummary,
)
from invoicing.selectors import customer_balances, overdue_invoices
from invoicing.services.batch import BatchInvoice, invoice_batch_create
from invoicing.services.invoices import LineInput, invoice_create
from o2c.models import Organization, OrganizationAPIKey, Role, Sequence
from o2c.services import Actor, request_transaction
from o2c.tenancy import tenant_context
from orders.models import Customer
from orders.services.terms import due_schedule
from reconciliation.models import Allocation, Payment
from reconciliation.services.payments import AllocationInput, payment_create

ACTOR = Actor.system("bench")
NET, TAX_RATE = Decimal("100.00"), Decimal(19)
TAX = Decimal("19.00")
TOTAL = NET + TAX
LINE = LineInput(
    description="Benchmark goods",
    quantity=Decimal(1),
    unit_price=NET,
    tax_rate=TAX_RATE,
)


def run_all(organization: Organization, *, writes: int, samples: int) -> dict:
    record, key = OrganizationAPIKey.objects.create_key(
        name="bench", organization=organization, role=Role.FINANCE
    )
    client = Client(headers={"authorization": f"Api-Key {key}"})
    try:
        results = {"writes": write_rates(organization, count=writes)}
        results["writes"] |= batch_rates(organization, client)
        results["api_floor"] = api_floor(organization, client, samples)
        results["customer_balance"] = customer_balance(organization, client, samples)
        results["invoice_list"] = invoice_lists(organization, client, samples)
    finally:
        record.revoked = True
        record.save(update_fields=["revoked"])
    return results


# --- a. writes ---
def write_rates(organization: Organization, *, count: int) -> dict:
    rnd = random.Random(7)
    with tenant_context(organization):
        today = organization.today()
        ids = list(
            Customer.objects.filter(currency="EUR", on_credit_hold=False).values_list(
                "pk", flat=True
            )
        )
        chosen = rnd.sample(ids, min(count, len(ids)))
        customers = list(
            Customer.objects.filter(pk__in=chosen).select_related("payment_term")
        )
        # One of each first: a process's first email enqueued imports the task
        # modules (a second, once per process), not a cost of every invoice.
        _service_payment(_service_invoice(customers[0], today), today)
        started = time.perf_counter()
        invoices = [_service_invoice(customer, today) for customer in customers]
        service_invoices = time.perf_counter() - started
        started = time.perf_counter()
        for invoice in invoices:
            _service_payment(invoice, today)
        service_payments = time.perf_counter() - started

        raw = _RawWriter(organization, today)
        started = time.perf_counter()
        raw_invoices = [raw.invoice(customer) for customer in customers]
        raw_invoice_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for invoice in raw_invoices:
            raw.payment(invoice)
        raw_payment_seconds = time.perf_counter() - started
    n = len(customers)
    return {
        "count": n,
        "invoices_per_second": n / service_invoices,
        "raw_invoices_per_second": n / raw_invoice_seconds,
        "payments_per_second": n / service_payments,
        "raw_payments_per_second": n / raw_payment_seconds,
    }


BATCH = 1_000


def batch_rates(organization: Organization, client: Client) -> dict:
    """A billing system's day pushed at once: 1,000 issued invoices through the
    batch service, then 1,000 more through ``POST /api/v1/invoices/batch/``
    (input checks, the service and the response), each one transaction.

    Both are rolled back afterwards: 2,000 more open invoices would change what
    the other benchmarks (and the next run) read."""
    # The 300 invoices and payments just written, as autovacuum would have
    # cleaned up after them (their sequences' rows and the summary).
    vacuum_if_unattended(
        tables=[Sequence._meta.db_table, ReceivablesSummary._meta.db_table]
    )
    try:
        with transaction.atomic():
            figures = _batch_rates(organization, client)
            raise _Rollback
    except _Rollback:
        pass
    return figures


class _Rollback(Exception):
    pass


def _batch_rates(organization: Organization, client: Client) -> dict:
    with tenant_context(organization):
        today = organization.today()
        customers = list(
            Customer.objects.filter(currency="EUR", on_credit_hold=False)
            .select_related("payment_term")
            .order_by("pk")[:BATCH]
        )
        started = time.perf_counter()
        invoice_batch_create(
            invoices=[
                BatchInvoice(
                    customer=customers[n % len(customers)],
                    invoice_date=today,
                    lines=[LINE],
                )
                for n in range(BATCH)
            ],
            issue=True,
            actor=ACTOR,
        )
        service_seconds = time.perf_counter() - started
    body = {
        "issue": True,
        "invoices": [
            {
                "customer": customers[n % len(customers)].pk,
                "invoice_date": today.isoformat(),
                "lines": [
                    {
                        "description": "Benchmark goods",
                        "quantity": "1",
                        "unit_price": str(NET),
                        "tax_rate": str(TAX_RATE),
                    }
                ],
            }
            for n in range(BATCH)
        ],
    }
    # A process's first request to the endpoint imports its views and
    # renderers (a second, once per process): a refused empty batch first.
    refused = client.post(
        "/api/v1/invoices/batch/", {"invoices": []}, content_type="application/json"
    )
    assert refused.status_code == 400, refused.content[:300]
    started = time.perf_counter()
    response = client.post(
        "/api/v1/invoices/batch/", body, content_type="application/json"
    )
    api_seconds = time.perf_counter() - started
    assert response.status_code == 201, response.content[:300]
    return {
        "batch_size": BATCH,
        "batch_invoices_per_second": BATCH / service_seconds,
        "batch_api_invoices_per_second": BATCH / api_seconds,
    }


def _service_invoice(customer: Customer, today: date) -> Invoice:
    # One transaction, as one ``POST /api/v1/invoices/`` with ``issue`` is (and
    # through the same service call).
    with request_transaction():
        return invoice_create(
            customer=customer,
            invoice_date=today,
            lines=[LINE],
            issue=True,
            actor=ACTOR,
        )


def _service_payment(invoice: Invoice, today: date) -> None:
    payment_create(
        customer=invoice.customer,
        amount=invoice.total,
        currency=invoice.currency,
        received_date=today,
        reference=invoice.number,
        allocations=[AllocationInput(invoice, invoice.total)],
        actor=ACTOR,
    )


class _RawWriter:
    """The same rows as the services, by plain INSERTs (one transaction each)."""

    def __init__(self, organization: Organization, today: date):
        self.organization, self.today = organization, today
        self.insert = {
            model: _insert_statement(model)
            for model in (
                Invoice,
                InvoiceLine,
                InvoiceInstalment,
                LedgerEntry,
                Payment,
                Allocation,
            )
        }

    def _number(self, cursor, name: str) -> str:
        cursor.execute(
            "UPDATE o2c_sequence SET next_value = next_value + 1 "
            "WHERE organization_id = %s AND name = %s "
            "RETURNING next_value - 1, prefix, padding",
            [self.organization.pk, name],
        )
        value, prefix, padding = cursor.fetchone()
        return f"{prefix}{value:0{padding}d}"

    def _row(self, cursor, model, **values) -> int:
        return self.insert[model](
            cursor, organization_id=self.organization.pk, **values
        )

    def invoice(self, customer: Customer) -> dict:
        (due, _), *_ = due_schedule(customer.payment_term, self.today, TOTAL, "EUR")
        with transaction.atomic(), connection.cursor() as cursor:
            number = self._number(cursor, "invoice")
            invoice_id = self._row(
                cursor,
                Invoice,
                number=number,
                customer_id=customer.pk,
                source=Invoice.Source.DIRECT,
                status=Invoice.Status.OPEN,
                currency="EUR",
                invoice_date=self.today,
                due_date=due,
                subtotal=NET,
                tax_total=TAX,
                total=TOTAL,
                open_amount=TOTAL,
                issued_at=timezone.now(),
            )
            self._row(
                cursor,
                InvoiceLine,
                invoice_id=invoice_id,
                position=1,
                description="Benchmark goods",
                quantity=Decimal(1),
                unit_price=NET,
                net_amount=NET,
                tax_rate=TAX_RATE,
                tax_amount=TAX,
            )
            self._row(
                cursor,
                InvoiceInstalment,
                invoice_id=invoice_id,
                sequence=1,
                due_date=due,
                amount=TOTAL,
            )
            self._row(
                cursor,
                LedgerEntry,
                customer_id=customer.pk,
                invoice_id=invoice_id,
                kind=LedgerEntry.Kind.INVOICE,
                amount=TOTAL,
                currency="EUR",
                posting_date=self.today,
                document_type="invoicing.invoice",
                document_id=invoice_id,
                memo=f"Invoice {number}",
            )
        return {"id": invoice_id, "number": number, "customer_id": customer.pk}

    def payment(self, invoice: dict) -> None:
        entry = {
            "customer_id": invoice["customer_id"],
            "currency": "EUR",
            "posting_date": self.today,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            number = self._number(cursor, "payment")
            payment_id = self._row(
                cursor,
                Payment,
                number=number,
                customer_id=invoice["customer_id"],
                status=Payment.Status.RECEIVED,
                method=Payment.Method.BANK_TRANSFER,
                amount=TOTAL,
                currency="EUR",
                received_date=self.today,
                unapplied_amount=Decimal(0),
                reference=invoice["number"],
            )
            self._row(
                cursor,
                LedgerEntry,
                kind=LedgerEntry.Kind.PAYMENT,
                amount=-TOTAL,
                payment_id=payment_id,
                document_type="reconciliation.payment",
                document_id=payment_id,
                memo=f"Payment {number}",
                **entry,
            )
            allocation_id = self._row(
                cursor,
                Allocation,
                payment_id=payment_id,
                invoice_id=invoice["id"],
                amount=TOTAL,
                allocation_date=self.today,
                status=Allocation.Status.ACTIVE,
            )
            for invoice_id, amount in ((invoice["id"], -TOTAL), (None, TOTAL)):
                self._row(
                    cursor,
                    LedgerEntry,
                    invoice_id=invoice_id,
                    kind=LedgerEntry.Kind.ALLOCATION,
                    amount=amount,
                    payment_id=payment_id,
                    document_type="reconciliation.allocation",
                    document_id=allocation_id,
                    memo=f"Payment {number} to invoice {invoice['number']}",
                    **entry,
                )
            cursor.execute(
                "UPDATE invoicing_invoice SET open_amount = 0, status = %s, "
                "settled_date = %s WHERE id = %s",
                [Invoice.Status.PAID, self.today, invoice["id"]],
            )


def _insert_statement(model) -> Callable[..., int]:
    """INSERT … RETURNING id for ``model``, unnamed columns at their defaults."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id"

    def default(field):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            return timezone.now()
        value = field.get_default()
        return json.dumps(value) if isinstance(value, dict | list) else value

    def insert(cursor, **values) -> int:
        params = [
            values[f.attname] if f.attname in values else default(f) for f in fields
        ]
        cursor.execute(sql, params)
        return cursor.fetchone()[0]

    return insert


# --- what any API request costs ---
def api_floor(organization: Organization, client: Client, samples: int) -> dict:
    """The smallest authenticated request: key check, tenant binding, one row."""

    def o2c(_):
        response = client.get("/api/v1/organization/")
        assert response.status_code == 200, response.content[:300]

    def raw(_):
        _fetch("SELECT * FROM o2c_organization WHERE id = %s", [organization.pk])

    keys = [None] * samples
    return {"via": "API", "o2c": _latencies(o2c, keys), "raw": _latencies(raw, keys)}


# --- b. customer balance ---
BALANCE_SQL = (
    "SELECT currency, sum(amount) FROM invoicing_ledgerentry "
    "WHERE organization_id = %s AND customer_id = %s GROUP BY currency"
)


def customer_balance(organization: Organization, client: Client, samples: int):
    with tenant_context(organization):
        ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
        chosen = random.Random(11).sample(ids, min(samples, len(ids)))
        largest = (
            LedgerEntry.objects.values("customer")
            .annotate(entries=Count("pk"))
            .order_by("-entries")
            .first()
        )
    url = "/api/v1/customers/{}/balance/"
    via = "API"
    if client.get(url.format(chosen[0])).status_code == 404:
        via = "selector invoicing.selectors.customer_balances (the API route 404s)"

    def o2c(customer_id):
        if via == "API":
            response = client.get(url.format(customer_id))
            assert response.status_code == 200, response.content[:300]
            return
        with tenant_context(organization):
            customer_balances(customer=Customer.objects.get(pk=customer_id))

    def raw(customer_id):
        _fetch(BALANCE_SQL, [organization.pk, customer_id])

    result = {
        "via": via,
        "o2c": _latencies(o2c, chosen),
        "raw": _latencies(raw, chosen),
        "largest_customer": {
            "entries": largest["entries"],
            "o2c": _latencies(o2c, [largest["customer"]] * 5),
            "raw": _latencies(raw, [largest["customer"]] * 5),
        },
    }
    if via == "API":
        result["queries"] = _explain_request(client, url.format(largest["customer"]))
    result["raw_plan"] = _plan(BALANCE_SQL, [organization.pk, largest["customer"]])
    return result


# --- c. invoice lists ---
LIST_SQL = (
    "SELECT * FROM invoicing_invoice WHERE organization_id = %s AND {where} "
    "ORDER BY id DESC LIMIT 50"
)


def invoice_lists(organization: Organization, client: Client, samples: int):
    with tenant_context(organization):
        today = organization.today()
        customers = list(
            Invoice.objects.filter(status=Invoice.Status.OPEN)
            .values_list("customer", flat=True)
            .distinct()[: samples * 4]
        )
    customers = random.Random(13).sample(customers, min(samples, len(customers)))
    org = organization.pk
    open_ = Invoice.Status.OPEN
    variants = {
        "status=open": (
            lambda _: "?status=open&page_size=50",
            "status = 'open'",
            lambda _: [org],
            lambda _: Invoice.objects.filter(status=open_),
        ),
        "status=open&customer=<id>": (
            lambda c: f"?status=open&customer={c}&page_size=50",
            "status = 'open' AND customer_id = %s",
            lambda c: [org, c],
            lambda c: Invoice.objects.filter(status=open_, customer_id=c),
        ),
        "overdue=true": (
            lambda _: "?overdue=true&page_size=50",
            "status IN ('open', 'partially_paid') AND due_date < %s",
            lambda _: [org, today],
            lambda _: overdue_invoices(),
        ),
    }
    results = {}
    for name, (query, where, params, orm) in variants.items():
        sql = LIST_SQL.format(where=where)
        keys = customers if "customer" in name else [None] * samples
        via = "API"

        def o2c(key, query=query):
            response = client.get(f"/api/v1/invoices/{query(key)}")
            assert response.status_code == 200, response.content[:300]

        if client.get(f"/api/v1/invoices/{query(keys[0])}").status_code == 404:
            via = "ORM queryset (the API route 404s)"

            def o2c(key, orm=orm):
                with tenant_context(organization):
                    list(orm(key).order_by("-id")[:50])

        def raw(key, sql=sql, params=params):
            _fetch(sql, params(key))

        results[name] = {
            "via": via,
            "o2c": _latencies(o2c, keys),
            "raw": _latencies(raw, keys),
            "raw_plan": _plan(sql, params(keys[0])),
        }
        if via == "API":
            results[name]["queries"] = _explain_request(
                client, f"/api/v1/invoices/{query(keys[0])}"
            )
    return results


# --- measuring ---
def _latencies(call: Callable, keys: list) -> dict:
    call(keys[0])  # warm caches and connections for both sides alike
    times = []
    for key in keys:
        started = time.perf_counter()
        call(key)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[max(0, math.ceil(0.95 * len(times)) - 1)],
        "samples": len(times),
    }


def _fetch(sql: str, params: list) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _explain_request(client: Client, url: str, *, trees: bool = False) -> dict:
    """How many queries one request runs, and the plan of the slowest.

    With ``trees`` every SELECT's plan is kept as PostgreSQL's JSON tree under
    ``plans``, for a caller that inspects the nodes."""
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    plans = [
        {"sql": q["sql"], **_plan(q["sql"], None, tree=trees)}
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT")
    ]
    slowest = max(plans, key=lambda plan: plan["execution_ms"])
    explained = {
        "count": len(captured.captured_queries),
        "slowest_ms": slowest["execution_ms"],
        "slowest_sql": slowest["sql"],
        "slowest_plan": slowest,
    }
    if trees:
        explained["plans"] = plans
    return explained


def _plan(sql: str, params, *, tree: bool = False) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)[0]
    nodes = []

    def walk(node, depth=0):
        text = node["Node Type"]
        if node.get("Index Name"):
            text += f" using {node['Index Name']}"
        if node.get("Relation Name"):
            text += f" on {node['Relation Name']}"
        text += f" (rows {node.get('Actual Rows')}"
        if node.get("Rows Removed by Filter"):
            text += f", removed by filter {node['Rows Removed by Filter']}"
        text += f", buffers {node.get('Shared Hit Blocks', 0)} hit"
        text += f" / {node.get('Shared Read Blocks', 0)} read)"
        nodes.append("  " * depth + text)
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"])
    figures = {"execution_ms": plan.get("Execution Time"), "nodes": nodes}
    if tree:
        figures["tree"] = plan["Plan"]
    return figures


# --- report ---
def print_report(results: dict) -> None:
    writes, seeding = results["writes"], results["seed"]
    rows = [
        (
            f"invoice create+issue, services ({writes['count']})",
            f"{writes['invoices_per_second']:,.0f} /s",
            f"{writes['raw_invoices_per_second']:,.0f} /s",
            _times(writes["raw_invoices_per_second"], writes["invoices_per_second"]),
        ),
        (
            f"payment + 1 allocation, services ({writes['count']})",
            f"{writes['payments_per_second']:,.0f} /s",
            f"{writes['raw_payments_per_second']:,.0f} /s",
            _times(writes["raw_payments_per_second"], writes["payments_per_second"]),
        ),
    ]
    if writes.get("batch_size"):
        for label, key in (
            ("service", "batch_invoices_per_second"),
            ("POST /invoices/batch/", "batch_api_invoices_per_second"),
        ):
            rows.append(
                (
                    f"invoice batch of {writes['batch_size']:,} issued, {label}",
                    f"{writes[key]:,.0f} /s",
                    f"{writes['raw_invoices_per_second']:,.0f} /s (one by one)",
                    _ratio(writes[key], writes["raw_invoices_per_second"]),
                )
            )
    rows.append(_latency_row("API floor: GET /organization/", results["api_floor"]))
    balance = results["customer_balance"]
    rows.append(_latency_row("customer balance", balance))
    largest = balance["largest_customer"]
    rows.append(
        _latency_row(f"  largest customer ({largest['entries']:,} entries)", largest)
    )
    for name, figures in results["invoice_list"].items():
        rows.append(_latency_row(f"invoice list ?{name}", figures))
    if seeding.get("invoices_per_second"):
        rows.append(
            (
                f"seed, bulk loader ({seeding['invoices']:,} invoices)",
                f"{seeding['invoices_per_second']:,.0f} /s",
                f"{writes['invoices_per_second']:,.0f} /s (services)",
                _times(
                    seeding["invoices_per_second"], writes["invoices_per_second"]
                ).replace("slower", "faster"),
            )
        )
    scale = results["scale"]
    print(
        f"\nO2C bench — {results['organization']} on {results['database']}: "
        f"{scale.get('customers') or 0:,} customers, "
        f"{scale.get('invoices') or 0:,} invoices, "
        f"{scale.get('payments') or 0:,} payments, "
        f"{scale.get('ledger_entries') or 0:,} ledger entries"
    )
    header = ("benchmark", "O2C", "baseline (raw SQL)", "ratio")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        )
    print(
        "\nLatency figures are median / p95 over the samples. The API floor is the "
        "cost of any authenticated request; the rest of an API figure is its own "
        "queries and serialization."
    )
    if seeding.get("measured"):
        print(f"Seed rate measured {seeding['measured']}.")
    _print_plans(results)


def _print_plans(results: dict) -> None:
    print("\nQuery plans (EXPLAIN ANALYZE):")
    named = {"customer balance": results["customer_balance"]}
    named.update({f"invoice list ?{k}": v for k, v in results["invoice_list"].items()})
    for name, figures in named.items():
        print(f"- {name} via {figures['via']}")
        queries = figures.get("queries")
        if queries:
            print(
                f"    {queries['count']} queries per request; slowest "
                f"{queries['slowest_ms']:.2f} ms: {queries['slowest_sql'][:300]}"
            )
            for line in queries["slowest_plan"]["nodes"]:
                print(f"      {line}")
        print(f"    raw SQL ({figures['raw_plan']['execution_ms']:.2f} ms):")
        for line in figures["raw_plan"]["nodes"]:
            print(f"      {line}")


def print_timings(title: str, rows: list[dict]) -> None:
    """A table of ``report(name, seconds, baseline_seconds, note)`` figures."""
    table = [
        (
            row["name"],
            f"{row['seconds'] * 1000:,.1f} ms",
            f"{row['baseline_seconds'] * 1000:,.1f} ms"
            if row["baseline_seconds"]
            else "-",
            _times(row["seconds"], row["baseline_seconds"])
            if row["baseline_seconds"]
            else "",
            row["note"],
        )
        for row in rows
    ]
    header = ("benchmark", "O2C", "baseline (raw SQL)", "ratio", "note")
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(5)]
    print(f"\n{title}")
    for row in [header, tuple("-" * w for w in widths), *table]:
        print(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        )


def _latency_row(name: str, figures: dict):
    o2c, raw = figures["o2c"], figures["raw"]
    return (
        name,
        f"{o2c['median_ms']:.1f} / {o2c['p95_ms']:.1f} ms",
        f"{raw['median_ms']:.1f} / {raw['p95_ms']:.1f} ms",
        _times(o2c["median_ms"], raw["median_ms"]),
    )


def _ratio(rate: float, baseline_rate: float) -> str:
    """A rate beside its baseline's, as "N x faster" or "N x slower"."""
    if rate >= baseline_rate:
        return _times(rate, baseline_rate).replace("slower", "faster")
    return _times(baseline_rate, rate)


def _times(bigger: float, smaller: float) -> str:
    return f"{bigger / smaller:,.1f}x slower" if smaller else "n/a"
