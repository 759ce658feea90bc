"""The per-customer receivables summary, kept in step with the ledger.

:class:`~invoicing.models.ReceivablesSummary` holds, per customer and currency,
the ledger's balance, what is open on invoices, the unapplied cash, the overdue
amount and the oldest due date, so that the customer list sorted by balance or
overdue and the dashboard read an indexed table instead of summing every open
invoice and unapplied payment of the organization.

Who writes it
    :func:`summary_post` runs at the end of every
    :func:`~invoicing.services.ledger.ledger_post`, in the same transaction: one
    ``INSERT … ON CONFLICT DO UPDATE`` adds the posting's amounts per (customer,
    currency), grouped in Python, and recomputes the overdue amount and due dates
    of those rows from their open invoices (index-only range scans of the
    partial index ``invoice_receivable_idx``, open amount > 0: an invoice being
    issued is open by then while its status is still draft). The upsert takes
    the row lock itself; a fixed order (customer, currency) keeps two postings
    from deadlocking. Bulk loads rebuild the organization's rows at the end
    (:func:`summary_rebuild`).

Overdue and the passing of days
    An invoice becomes overdue by the calendar alone, with no posting. A row's
    ``overdue`` is right until its ``next_due_date`` (the earliest due date of an
    open invoice not yet counted overdue) has passed; readers call
    :func:`summary_refresh` first, which recomputes, in one ``UPDATE``, only the
    rows whose ``next_due_date`` is before the organization's today (found through
    an index). Recomputing a touched row on each posting, rather than adjusting
    its overdue by the posting's amounts, keeps ``oldest_due_date`` exact when the
    oldest invoice is settled and costs the same statement (one grouped scan of
    the customer's open invoices, joined to the posting's rows).
    Organization days only move forward: a clock set back would leave rows
    computed for a later day until their next posting.

The statements are plain SQL that PostgreSQL and SQLite both run (``ON CONFLICT …
DO UPDATE`` and correlated subqueries); sums are rounded to the money columns'
decimal places, which changes nothing on PostgreSQL and keeps SQLite's float
arithmetic exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db import connection

from invoicing.models import ReceivablesSummary
from o2c.rows import RoundTrip
from o2c.tenancy import current_organization

SUMMARY = "invoicing_receivablessummary"
INVOICES = "invoicing_invoice"
LEDGER = "invoicing_ledgerentry"
PLACES = ReceivablesSummary._meta.get_field("balance").decimal_places


def _date_literal(day: date) -> str:
    return f"'{day.isoformat()}'"


def _open_invoice_figures(organization_id: int, customer: str, currency: str, today):
    """``overdue, oldest_due_date, next_due_date`` of one (customer, currency) as
    SQL expressions over its open invoices, ``customer`` and ``currency`` naming
    the outer query's columns."""
    scope = (
        f"FROM {INVOICES} i WHERE i.organization_id = {int(organization_id)} "
        f"AND i.customer_id = {customer} AND i.currency = {currency} "
        "AND i.open_amount > 0"
    )
    today = _date_literal(today)
    return (
        f"COALESCE((SELECT ROUND(SUM(i.open_amount), {PLACES}) {scope} "
        f"AND i.due_date < {today}), 0)",
        f"(SELECT MIN(i.due_date) {scope})",
        f"(SELECT MIN(i.due_date) {scope} AND i.due_date >= {today})",
    )


def _open_invoice_groups(organization_id: int, today) -> str:
    """The figures of :func:`_open_invoice_figures` for the customers of the
    posting (``v``), per (customer, currency), from one grouped scan of their
    open invoices: a subquery to join on both. Planned once, where the three
    correlated subqueries are planned each (0.6 ms of a posting's upsert)."""
    today = _date_literal(today)
    return (
        "SELECT i.customer_id, i.currency, "
        f"ROUND(SUM(CASE WHEN i.due_date < {today} THEN i.open_amount END), "
        f"{PLACES}) AS overdue, MIN(i.due_date) AS oldest_due_date, "
        f"MIN(CASE WHEN i.due_date >= {today} THEN i.due_date END) AS next_due_date "
        f"FROM {INVOICES} i WHERE i.organization_id = {int(organization_id)} "
        "AND i.customer_id IN (SELECT customer_id FROM v) AND i.open_amount > 0 "
        "GROUP BY i.customer_id, i.currency"
    )


def summary_post(postings: Iterable, *, trip: RoundTrip | None = None) -> None:
    """Add ``postings`` (:class:`~invoicing.services.ledger.Posting`) to the
    summary, after the ledger service has brought their invoices in step (or
    held its statements for ``trip``, before this one)."""
    deltas: dict[tuple[int, str], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0), Decimal(0)]
    )
    for posting in postings:
        figures = deltas[(posting.customer_id, posting.currency)]
        figures[0] += posting.amount
        if posting.invoice_id:
            figures[1] += posting.amount
        else:  # cash on account: a credit here is cash received, not applied
            figures[2] -= posting.amount
    if not deltas:
        return
    organization = current_organization()
    rows = sorted(deltas.items())
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params = [
        value
        for (customer_id, currency), amounts in rows
        for value in (customer_id, currency, *amounts)
    ]
    sql = (
        "WITH v (customer_id, currency, balance, invoices_open, unapplied_cash) "
        f"AS (VALUES {values}) "
        f"INSERT INTO {SUMMARY} AS s (organization_id, customer_id, currency, "
        "balance, invoices_open, unapplied_cash, overdue, oldest_due_date, "
        f"next_due_date) SELECT {int(organization.pk)}, v.customer_id, v.currency, "
        "v.balance, v.invoices_open, v.unapplied_cash, "
        "COALESCE(f.overdue, 0), f.oldest_due_date, f.next_due_date FROM v "
        f"LEFT JOIN ({_open_invoice_groups(organization.pk, organization.today())}) "
        "f ON f.customer_id = v.customer_id AND f.currency = v.currency "
        "WHERE true ORDER BY v.customer_id, v.currency "
        "ON CONFLICT (organization_id, customer_id, currency) DO UPDATE SET "
        f"balance = ROUND(s.balance + excluded.balance, {PLACES}), "
        f"invoices_open = ROUND(s.invoices_open + excluded.invoices_open, {PLACES}), "
        "unapplied_cash = "
        f"ROUND(s.unapplied_cash + excluded.unapplied_cash, {PLACES}), "
        "overdue = excluded.overdue, oldest_due_date = excluded.oldest_due_date, "
        "next_due_date = excluded.next_due_date"
    )
    if trip is not None:
        trip.execute(sql, params)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def summary_refresh(*, today: date | None = None) -> int:
    """Recompute the overdue amount of the rows whose figure has expired by
    ``today`` (default the organization's today); returns how many."""
    organization = current_organization()
    today = today or organization.today()
    row = f"{SUMMARY}.customer_id", f"{SUMMARY}.currency"
    overdue, oldest, next_due = _open_invoice_figures(organization.pk, *row, today)
    sql = (
        f"UPDATE {SUMMARY} SET overdue = {overdue}, oldest_due_date = {oldest}, "
        f"next_due_date = {next_due} WHERE organization_id = {int(organization.pk)} "
        f"AND next_due_date < {_date_literal(today)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def rebuild_sql(organization_id: int, today: date) -> list[str]:
    """The statements that build an organization's summary from its ledger: one
    ``INSERT … SELECT … GROUP BY`` over the ledger (after deleting the old rows),
    with the overdue figures from the open invoices."""
    organization_id = int(organization_id)
    overdue, oldest, next_due = _open_invoice_figures(
        organization_id, "g.customer_id", "g.currency", today
    )
    return [
        f"DELETE FROM {SUMMARY} WHERE organization_id = {organization_id}",
        f"INSERT INTO {SUMMARY} (organization_id, customer_id, currency, balance, "
        "invoices_open, unapplied_cash, overdue, oldest_due_date, next_due_date) "
        f"SELECT {organization_id}, g.customer_id, g.currency, g.balance, "
        f"g.invoices_open, g.unapplied_cash, {overdue}, {oldest}, {next_due} "
        "FROM (SELECT e.customer_id AS customer_id, e.currency AS currency, "
        f"ROUND(SUM(e.amount), {PLACES}) AS balance, "
        "ROUND(SUM(CASE WHEN e.invoice_id IS NOT NULL THEN e.amount ELSE 0 END), "
        f"{PLACES}) AS invoices_open, "
        "ROUND(-SUM(CASE WHEN e.invoice_id IS NULL THEN e.amount ELSE 0 END), "
        f"{PLACES}) AS unapplied_cash "
        f"FROM {LEDGER} e WHERE e.organization_id = {organization_id} "
        "GROUP BY e.customer_id, e.currency) g",
    ]


def summary_rebuild() -> None:
    """Build the organization's summary afresh from its ledger (after a bulk load,
    which writes ledger rows without :func:`summary_post`)."""
    organization = current_organization()
    with connection.cursor() as cursor:
        for statement in rebuild_sql(organization.pk, organization.today()):
            cursor.execute(statement)
        if connection.vendor == "postgresql":
            # Fresh planner statistics: with none (a new or refilled table)
            # PostgreSQL misjudges how many rows a page of the customer list
            # joins, and sorts them all instead of walking the amount index.
            cursor.execute(f"ANALYZE {SUMMARY}")
