"""The bench organization of a scale: reused when already seeded at that scale."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import DatabaseError, connection, transaction

from demo.services import SEEDED, customers_for_invoices, seed_demo
from o2c.models import AuditEvent, Organization
from o2c.tenancy import tenant_context

customers_for = customers_for_invoices


def _print(message: str) -> None:
    print(message, flush=True)


def seeded_with(organization: Organization) -> dict:
    with tenant_context(organization):
        event = (
            AuditEvent.objects.filter(action=SEEDED, object_type="o2c.organization")
            .order_by("-pk")
            .first()
        )
    return event.data if event else {}


def scale_of(organization: Organization) -> dict:
    data = seeded_with(organization)
    keys = ("customers", "months", "invoices", "payments", "ledger_entries")
    return {key: data.get(key) for key in keys}


def bench_organization(
    *,
    label: str,
    customers: int,
    months: int,
    seed: int,
    progress: Callable[[str], None] = _print,
    analyze: bool = True,
):
    """(organization, seeding figures) for ``bench-<label>``, seeding it if needed.

    ``progress`` receives what is being done (reused, seeded, each month loaded);
    ``analyze`` is ``seed_demo``'s."""
    slug = f"bench-{label}"
    organization = Organization.objects.filter(slug=slug).first()
    if organization is not None:
        data = seeded_with(organization)
        wanted = {"customers": customers, "months": months, "seed": seed}
        if all(data.get(key) == value for key, value in wanted.items()):
            progress(f"Reusing {slug}: {data.get('invoices', 0):,} invoices.")
            return organization, _seeding(data, reused=True)
        progress(f"{slug} was seeded differently ({data}); seeding it again.")
    progress(f"Seeding {slug}: {customers:,} customers over {months} months…")
    result = seed_demo(
        slug=slug,
        name=f"Northwind Supplies ({slug})",
        customers=customers,
        months=months,
        seed=seed,
        reset=organization is not None,
        # The collecting benchmark builds its own organization; replaying 36
        # months of collections over 2,000,000 invoices would only slow seeding.
        collection_history=False,
        analyze=analyze,
        progress=progress,
    )
    return result.organization, _seeding(seeded_with(result.organization), False)


def _seeding(data: dict, reused: bool) -> dict:
    return {
        "invoices": data.get("invoices"),
        "payments": data.get("payments"),
        "ledger_entries": data.get("ledger_entries"),
        "seconds": data.get("seconds"),
        "invoices_per_second": data.get("invoices_per_second"),
        "measured": "when the organization was seeded" if reused else "in this run",
    }


def vacuum_if_unattended(
    progress: Callable[[str], None] = _print, tables: list[str] | None = None
) -> None:
    """``VACUUM (ANALYZE)`` the bench database when the server's autovacuum is off.

    A PostgreSQL left to itself vacuums tables as rows are written (autovacuum is
    on by default), which keeps the visibility map that index-only scans read.
    With it off, as on some build machines, a table just loaded or written makes
    each index-only scan fetch heap pages as well: the dashboard took 381 ms here
    instead of 146 ms. The benchmark measures a database kept as a server keeps
    it; when nothing is left to do the VACUUM takes seconds.

    ``tables``: only those, between benchmarks, as autovacuum would after a
    few hundred writes to a small table (each document updates its sequence's
    row; a thousand dead versions of it make the next UPDATE walk them all)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return
        started = time.monotonic()
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables or [])}")
    if tables:
        return
    progress(
        "autovacuum is off on this server: vacuumed and analyzed as it would have "
        f"({time.monotonic() - started:.0f} s)."
    )


def warm_cache(progress: Callable[[str], None] = _print) -> None:
    """Read the bench database's tables and indexes once (``pg_prewarm``), so
    that every figure is taken with them in memory, as on a server that has
    been running.

    On a machine just started (or after the seeding pushed them out) a part of
    the 8 GB at full scale is on disk: a one-row ledger INSERT then waited
    3.8 ms for index pages instead of 0.4 ms, and whichever benchmark ran first
    paid for the reads the next one found in memory (the raw baselines run
    after the services they are compared with). Skipped, with a note, where the
    extension cannot be created."""
    started = time.monotonic()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cursor.execute(
                "SELECT COALESCE(SUM(pg_prewarm(c.oid::regclass, 'read')), 0) "
                "* current_setting('block_size')::bigint "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')"
            )
            size = cursor.fetchone()[0]
    except DatabaseError as error:
        progress(f"Tables not read ahead (pg_prewarm: {error}).".strip())
        return
    progress(
        f"Read the tables and indexes into memory: {size / 2**30:.1f} "
        f"GB in {time.monotonic() - started:.0f} s."
    )
