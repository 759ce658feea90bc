"""Many tenants on one database: a small tenant's pages stay as fast as alone.

``bench_tenants(organization, results, …)`` seeds ``--tenants`` small organizations
(``bench-t001``, ``bench-t002``, …, ``--tenant-invoices`` invoices each, once,
reused by later runs) into the bench database beside the large one, and times one
of them, the middle one, through the pages its staff use: the dashboard, the
customers list sorted by balance and by overdue, aging today, the invoice list API
(``?status=open``), its busiest customer's page, the search dropdown and an invoice
page — each as median and p95 over ``--samples`` requests.

The baseline is the same tenant (same seed, same size) alone in a database of its
own (``<bench database>_alone``, created and migrated if missing), timed in the
same run by a process of its own (``python -m bench.alone``) with the same code.
The two take turns, a few requests each, page by page, so a busy moment of the
machine falls on both alike. A ratio near 1 says the other tenants cost this one
nothing.

Each page's queries in the shared database are EXPLAIN ANALYZEd; a plan that reads
across tenants is flagged with its nodes: a sequential scan of a tenant table of
more than 50,000 rows, or an index scan whose index does not lead with
``organization_id`` — the primary key and keys scoped by a tenant row (such as
``customer_id``) or a person (``user_id``) pass when the scan pins them to a
value, which selects one tenant's (or one person's) rows by construction.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from urllib.parse import quote, urlparse

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client

from bench import setup
from bench.cases import _explain_request
from demo.services import customers_for_invoices
from invoicing.models import Invoice
from o2c.models import Membership, Organization, OrganizationAPIKey, Role
from o2c.tenancy import tenant_context
from orders.models import Customer
from reports.services import metrics_refresh

PREFIX = "t"  # bench-t001 …
SEQ_SCAN_ROWS = 50_000
ALONE_MARKER = "TENANT-FIGURES "


def tenant_label(number: int) -> str:
    return f"{PREFIX}{number:03d}"


def tenant_seed(seed: int, number: int) -> int:
    # Each tenant its own history; the alone copy of one is the same history.
    return seed + number


def bench_tenants(
    organization: Organization,
    results: dict,
    *,
    tenants: int,
    invoices: int,
    months: int,
    seed: int,
    samples: int,
    database_url: str,
) -> None:
    customers = customers_for_invoices(invoices, months)
    seed_tenants(count=tenants, customers=customers, months=months, seed=seed)
    number = (tenants + 1) // 2
    label = tenant_label(number)
    measured = Organization.objects.get(slug=f"bench-{label}")
    print(f"\nTiming bench-{label} here and alone in its own database…", flush=True)
    alone_process = AloneProcess(
        _alone_url(database_url),
        label=label,
        customers=customers,
        months=months,
        seed=tenant_seed(seed, number),
    )
    with PageTimer(measured) as shared, alone_process as alone:
        if alone.pages != list(shared.pages):
            print(f"  ! the alone tenant's pages differ: {alone.pages}", flush=True)
        pages = compare_pages(shared, alone, samples)
    results["tenants"] = {
        "tenants": tenants,
        "tenant_invoices": invoices,
        "measured": f"bench-{label}",
        "scale": setup.scale_of(measured),
        "alone_database": urlparse(_alone_url(database_url)).path.lstrip("/"),
        "alone_scale": alone.scale,
        "pages": pages,
        "flagged": {
            page: figures["plans"]["flags"]
            for page, figures in pages.items()
            if figures["plans"]["flags"]
        },
    }
    print_report(results["tenants"], large=organization.slug)


ROUND = 5  # requests in a row on one side before the other side's turn


def compare_pages(shared: PageTimer, alone: AloneProcess, samples: int) -> dict:
    """Each page timed in turns of ``ROUND`` requests, here then alone, so a
    busy moment of the machine falls on both sides alike."""
    pages = {}
    for index, name in enumerate(shared.pages):
        here, there = [], []
        for turn in range(0, samples, ROUND):
            count = min(ROUND, samples - turn)
            here += shared.times(name, count)
            there += alone.times(index, count)
        pages[name] = {
            "shared": _summary(here),
            "alone": _summary(there),
            "urls": shared.pages[name][1],
            "plans": shared.explained(name),
        }
    return pages


def _summary(times: list[float]) -> dict:
    times = sorted(times)
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[max(0, math.ceil(0.95 * len(times)) - 1)],
        "samples": len(times),
    }


# --- seeding -------------------------------------------------------------------------
def seed_tenants(*, count: int, customers: int, months: int, seed: int) -> None:
    """``bench-t001`` … ``bench-t<count>``, each seeded once and reused after."""
    started, seeded = time.monotonic(), 0
    for number in range(1, count + 1):
        label = tenant_label(number)
        began = time.monotonic()
        _, figures = setup.bench_organization(
            label=label,
            customers=customers,
            months=months,
            seed=tenant_seed(seed, number),
            progress=_silent,  # one line per tenant below, not one per month
            # One ANALYZE after the lot: each samples the whole table, and 200
            # of them over the large tenant's tables would double the seeding.
            analyze=False,
        )
        if figures["measured"] == "in this run":
            seeded += 1
            elapsed = time.monotonic() - started
            left = elapsed / seeded * (count - number)
            print(
                f"  bench-{label}: {figures['invoices']:,} invoices in "
                f"{time.monotonic() - began:.1f} s ({number}/{count}, "
                f"about {left / 60:.0f} min left)",
                flush=True,
            )
    if seeded:
        # As after any bulk load: statistics for the planner, and the
        # visibility map that index-only scans read.
        print("Vacuuming and analyzing the tables…", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    print(
        f"{count} small tenants of {customers:,} customers over {months} months: "
        f"{seeded} seeded in this run, {count - seeded} reused.",
        flush=True,
    )


def _silent(message: str) -> None:
    pass


# --- the pages -----------------------------------------------------------------------
class PageTimer:
    """One tenant's pages, signed in as its admin (and with an API key for the
    API), timed request by request.

    The customer, invoice and search term are chosen by their numbers and names,
    not their ids, so the same tenant seeded in another database is timed on
    the same rows."""

    def __init__(self, organization: Organization):
        self.organization = organization
        self.pages: dict[str, tuple[Client, list[str]]] = {}
        self._stack = ExitStack()
        self._warm: set[str] = set()

    def __enter__(self) -> PageTimer:
        self._stack.enter_context(tenant_context(self.organization))
        metrics_refresh()  # the dashboard reads the month-end snapshot
        record, key = OrganizationAPIKey.objects.create_key(
            name="bench tenants", organization=self.organization, role=Role.FINANCE
        )
        self._stack.callback(_revoke, record)
        api = Client(headers={"authorization": f"Api-Key {key}"})
        staff = _signed_in(self.organization)
        self.pages = {name: (client, urls) for name, client, urls in _pages(staff, api)}
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def times(self, name: str, count: int) -> list[float]:
        """Milliseconds of ``count`` requests of the page (warmed once first)."""
        client, urls = self.pages[name]
        if name not in self._warm:
            _request(client, urls)  # caches and connections warm on both sides
            self._warm.add(name)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            _request(client, urls)
            times.append((time.perf_counter() - started) * 1000)
        return times

    def explained(self, name: str) -> dict:
        client, urls = self.pages[name]
        return _explained(client, urls)


def _revoke(record: OrganizationAPIKey) -> None:
    record.revoked = True
    record.save(update_fields=["revoked"])


def _request(client: Client, urls: list[str]) -> None:
    for url in urls:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")


def _pages(staff: Client, api: Client) -> list[tuple[str, Client, list[str]]]:
    customer_id, number, name = (
        Customer.objects.annotate(invoice_count=Count("invoices"))
        .order_by("-invoice_count", "number")
        .values_list("pk", "number", "name")
        .first()
    )
    invoice = (
        Invoice.objects.filter(customer_id=customer_id, status=Invoice.Status.OPEN)
        .order_by("-number")
        .values_list("pk", "number")
        .first()
    ) or (
        Invoice.objects.filter(customer_id=customer_id)
        .exclude(number=None)
        .order_by("-number")
        .values_list("pk", "number")
        .first()
    )
    invoice_id, invoice_number = invoice
    term = name.split()[0]
    return [
        ("dashboard", staff, ["/"]),
        ("customers by balance", staff, ["/customers/?sort=balance&dir=desc"]),
        ("customers by overdue", staff, ["/customers/?sort=overdue&dir=desc"]),
        ("aging today", staff, ["/reports/aging/"]),
        ("invoice list API ?status=open", api, ["/api/v1/invoices/?status=open"]),
        (
            f"customer page ({number})",
            staff,
            [
                f"/customers/{customer_id}/",
                f"/customers/{customer_id}/account/",
                f"/customers/{customer_id}/payments/",
            ],
        ),
        (
            f"search dropdown, name ({term})",
            staff,
            [f"/search/suggestions/?q={quote(term)}"],
        ),
        (
            f"search dropdown, invoice ({invoice_number})",
            staff,
            [f"/search/suggestions/?q={quote(invoice_number)}"],
        ),
        (f"invoice page ({invoice_number})", staff, [f"/invoices/{invoice_id}/"]),
    ]


def _signed_in(organization: Organization) -> Client:
    membership = (
        Membership.objects.filter(organization=organization, role=Role.ADMIN)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    client = Client()
    client.force_login(membership.user)
    return client


# --- plans ---------------------------------------------------------------------------
def _explained(client: Client, urls: list[str]) -> dict:
    """The slowest query of the page's requests, and every plan node that reads
    across tenants in any of them."""
    indexes, tables = _index_leads(), _tenant_tables()
    slowest, flags, count = None, [], 0
    for url in urls:
        explained = _explain_request(client, url, trees=True)
        count += explained["count"]
        for plan in explained["plans"]:
            found = _cross_tenant_nodes(plan["tree"], indexes, tables)
            if found:
                flags.append(
                    {"sql": plan["sql"], "nodes": found, "plan": plan["nodes"]}
                )
        if slowest is None or explained["slowest_ms"] > slowest["slowest_ms"]:
            slowest = explained
    return {
        "queries": count,
        "slowest_ms": slowest["slowest_ms"],
        "slowest_sql": slowest["slowest_sql"],
        "slowest_plan": slowest["slowest_plan"]["nodes"],
        "flags": flags,
    }


def _cross_tenant_nodes(node: dict, indexes: dict, tables: dict) -> list[str]:
    found = []
    relation, index = node.get("Relation Name"), node.get("Index Name")
    if node["Node Type"] == "Seq Scan" and tables.get(relation, 0) > SEQ_SCAN_ROWS:
        found.append(f"Seq Scan on {relation} ({tables[relation]:,.0f} rows)")
    elif index in indexes and not _selects_one_tenant(node, *indexes[index]):
        # Bitmap Index Scans name the index but not the table.
        found.append(f"{node['Node Type']} using {index}")
    for child in node.get("Plans", []):
        found.extend(_cross_tenant_nodes(child, indexes, tables))
    return found


def _selects_one_tenant(node: dict, scoped: bool, column: str | None) -> bool:
    """An index leading with organization_id reads one tenant's entries; one
    leading with the primary key or a tenant row's id (``customer_id``) does
    when the scan pins that column to a value — walked in order instead, as a
    backward primary key scan for ``ORDER BY id DESC``, it reads every tenant's
    rows on its way."""
    if column == "organization_id":
        return True
    condition = node.get("Index Cond", "")
    return scoped and re.search(rf"\b{column} = ", condition) is not None


# Each index on a tenant table: whether it is the primary key or leads with a
# foreign key to another tenant table (a customer's id is one organization's) or
# to a person (a user's memberships and work are in their few organizations),
# and its leading column (None for an expression). tests/platform/
# test_tenant_indexes.py holds the schema to this rule.
INDEXES_SQL = """
SELECT i.relname,
       x.indisprimary OR EXISTS (
           SELECT 1 FROM pg_constraint f
           JOIN pg_attribute o ON o.attrelid = f.confrelid
                              AND o.attname = 'organization_id'
                              AND NOT o.attisdropped
           WHERE f.conrelid = x.indrelid AND f.contype = 'f'
             AND f.conkey[1] = x.indkey[0])
       OR EXISTS (
           SELECT 1 FROM pg_constraint f
           WHERE f.conrelid = x.indrelid AND f.contype = 'f'
             AND f.conkey[1] = x.indkey[0] AND f.confrelid = %s::regclass),
       lead.attname
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'organization_id'
                   AND NOT a.attisdropped
LEFT JOIN pg_attribute lead ON lead.attrelid = t.oid AND lead.attnum = x.indkey[0]
WHERE t.relnamespace = 'public'::regnamespace
"""

TENANT_TABLES_SQL = """
SELECT c.relname, c.reltuples FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id'
WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
  AND NOT a.attisdropped
"""


def _index_leads() -> dict[str, tuple[bool, str | None]]:
    with connection.cursor() as cursor:
        user_table = get_user_model()._meta.db_table
        cursor.execute(INDEXES_SQL, [connection.ops.quote_name(user_table)])
        return {name: (scoped, column) for name, scoped, column in cursor.fetchall()}


def _tenant_tables() -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute(TENANT_TABLES_SQL)
        return dict(cursor.fetchall())


# --- the baseline: the same tenant alone ---------------------------------------------
def _alone_url(database_url: str) -> str:
    url = urlparse(database_url)
    return url._replace(path=f"{url.path}_alone").geturl()


class AloneProcess:
    """``python -m bench.alone``: the same tenant in its own database, timed by
    a process of its own page by page when asked (one JSON line each way)."""

    def __init__(self, database_url: str, **options):
        self.command = [sys.executable, "-m", "bench.alone", database_url]
        self.command += [f"--{key}={value}" for key, value in options.items()]
        self.pages: list[str] = []
        self.scale: dict = {}

    def __enter__(self) -> AloneProcess:
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        ready = self._answer()
        self.pages, self.scale = ready["pages"], ready["scale"]
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)

    def times(self, page: int, count: int) -> list[float]:
        self.process.stdin.write(json.dumps({"page": page, "count": count}) + "\n")
        self.process.stdin.flush()
        return self._answer()["times"]

    def _answer(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(ALONE_MARKER):
                return json.loads(line.removeprefix(ALONE_MARKER))
            print(f"  | {line.rstrip()}", flush=True)  # its seeding's progress
        raise RuntimeError(f"the alone process ended ({self.process.wait()})")


def serve_alone(*, label: str, customers: int, months: int, seed: int) -> None:
    """The alone process: seed the tenant (once), then time the pages asked for
    on standard input until it closes."""
    organization, _ = setup.bench_organization(
        label=label, customers=customers, months=months, seed=seed
    )
    with PageTimer(organization) as timer:
        names = list(timer.pages)
        _answer(pages=names, scale=setup.scale_of(organization))
        for line in sys.stdin:
            asked = json.loads(line)
            _answer(times=timer.times(names[asked["page"]], asked["count"]))


def _answer(**figures) -> None:
    print(ALONE_MARKER + json.dumps(figures), flush=True)


# --- report --------------------------------------------------------------------------
def print_report(figures: dict, *, large: str) -> None:
    scale = figures["scale"]
    print(
        f"\nMany tenants on one database — {figures['measured']} "
        f"({scale.get('customers') or 0:,} customers, "
        f"{scale.get('invoices') or 0:,} invoices) beside {large} and "
        f"{figures['tenants'] - 1} more small tenants, and alone in "
        f"{figures['alone_database']}"
    )
    rows = [
        (
            page,
            _latency(timed["shared"]),
            _latency(timed["alone"]),
            f"{timed['shared']['median_ms'] / timed['alone']['median_ms']:.2f}x",
            f"{timed['plans']['queries']} queries, slowest "
            f"{timed['plans']['slowest_ms']:.1f} ms",
        )
        for page, timed in figures["pages"].items()
    ]
    header = ("page", "shared database", "alone", "ratio", "plans (shared)")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        )
    print(
        "\nMedian / p95 over the samples, taken in turns of "
        f"{ROUND} requests on each side; ratio = shared median / alone median. "
        "Each page's slowest query in the shared database:"
    )
    for page, timed in figures["pages"].items():
        plans = timed["plans"]
        print(f"- {page}: {plans['slowest_ms']:.2f} ms: {plans['slowest_sql'][:200]}")
        for line in plans["slowest_plan"]:
            print(f"      {line}")
    if not figures["flagged"]:
        print(
            "\nNo plan reads across tenants: no sequential scan of a tenant table "
            f"over {SEQ_SCAN_ROWS:,} rows, every index scan on an index that "
            "selects one organization's rows."
        )
        return
    print("\nPlans that read across tenants:")
    for page, flags in figures["flagged"].items():
        for flag in flags:
            print(f"- {page}: {'; '.join(flag['nodes'])}")
            print(f"    {flag['sql'][:300]}")
            for line in flag["plan"]:
                print(f"      {line}")


def _latency(figures: dict) -> str:
    return f"{figures['median_ms']:.1f} / {figures['p95_ms']:.1f} ms"
