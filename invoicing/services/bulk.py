"""Bulk loading of invoice history: many thousand invoices per second.

The per-document services (``invoice_issue``, ``payment_create``…) lock rows, run
ledger checks and write audit events for each document; that is right for one
invoice and far too slow for the two million of a tenant's history (demo data,
benchmarks, a migration from another system). This module builds the same rows in
memory, chunk by chunk, and inserts them in bulk:

* :class:`BulkWriter` collects rows per model and writes them parents first —
  ``COPY … FROM STDIN`` on PostgreSQL, ``bulk_create`` elsewhere — with ids taken
  up front (PostgreSQL sequences, or the table's high-water mark under SQLite's
  write lock) so children can point at parents before either is written.
* :class:`InvoiceLoader` writes invoices (lines, instalments, the ledger debit, and a
  reversal for voided ones) and credit notes. An invoice arrives with the credits it
  will receive in this load (allocations, credit notes, write-offs, each with its
  posting date) and the fees charged on it (posted by the loader), so its
  ``open_amount``, status (:func:`invoicing.status.payment_status`) and
  ``settled_date`` are written once, final, exactly as
  :func:`invoicing.services.ledger.ledger_post` would have left them. Each credit
  posted later in the load must match one planned credit
  (:meth:`InvoiceLoader.take_credit`), and :meth:`InvoiceLoader.finish` refuses a
  load that left one unposted: the cached amounts cannot drift from the ledger.
* Numbers come from the organization's :class:`~o2c.models.Sequence` rows, a block
  per chunk, under the same row lock as ``next_number``: gap-free, and the services
  continue after the last one.

Audit events are not written per document (the load is one audited act of its
caller). Payments live in ``reconciliation``, above this app:
``reconciliation.services.bulk`` posts them through an :class:`InvoiceLoader`.
"""

from __future__ import annotations

import csv
import datetime as dt
import graphlib
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection, models
from django.db.models import Max
from django.utils import timezone

from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceInstalment,
    InvoiceLine,
    LedgerEntry,
)
from invoicing.services.ledger import APPEND_LOCK, APPEND_LOCK_SQL
from invoicing.services.summary import summary_rebuild
from invoicing.status import payment_status
from o2c.services import next_numbers
from o2c.tenancy import current_organization
from orders.models import PaymentTerm
from orders.services.pricing import price_line
from orders.services.terms import due_schedule, early_payment_discount

INVOICE_DOC = "invoicing.invoice"
CREDIT_NOTE_DOC = "invoicing.creditnote"
ID_BLOCK = 5_000
COPY_ROWS = 50_000


class BulkLoadError(RuntimeError):
    """The caller handed the loader inconsistent history (a bug, not bad input)."""


class BulkWriter:
    """Rows of one chunk, per model, inserted parents first by :meth:`flush`.

    Call inside ``transaction.atomic()``: on SQLite the transaction holds the write
    lock that makes the high-water-mark ids safe.
    """

    def __init__(self, *, batch_size: int = 5_000):
        self.batch_size = batch_size
        self.use_copy = connection.vendor == "postgresql"
        self.inserted: Counter[str] = Counter()
        self._rows: dict[type[models.Model], list[dict]] = {}
        self._id_pools: dict[type[models.Model], list[int]] = {}
        self._high_water: dict[type[models.Model], int] = {}
        self._defaults: dict[type[models.Model], dict] = {}
        self._row_security: dict[type[models.Model], bool] = {}
        self.now = timezone.now()
        if self.use_copy:
            # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: a load of
            # millions of rows would queue millions of checks until commit.
            # Checking at the end of each COPY keeps memory flat.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def new_id(self, model: type[models.Model]) -> int:
        pool = self._id_pools.setdefault(model, [])
        if not pool:
            pool.extend(reversed(self._reserve_ids(model, ID_BLOCK)))
        return pool.pop()

    def add(self, model: type[models.Model], row: dict) -> None:
        self._rows.setdefault(model, []).append(row)

    def flush(self) -> None:
        for model in self._parents_first():
            rows = self._rows.pop(model)
            if self.use_copy:
                self._copy(model, rows)
            else:
                model._base_manager.bulk_create(
                    [model(**row) for row in rows], batch_size=self.batch_size
                )
            self.inserted[model._meta.label] += len(rows)

    def _parents_first(self) -> list[type[models.Model]]:
        pending = set(self._rows)
        graph = {
            model: {
                f.related_model
                for f in model._meta.concrete_fields
                if f.is_relation
                and f.related_model in pending
                and f.related_model is not model
            }
            for model in pending
        }
        return list(graphlib.TopologicalSorter(graph).static_order())

    def _reserve_ids(self, model, count: int) -> list[int]:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if model is LedgerEntry:  # as ledger_post: see ledger_settled_id
                    cursor.execute(
                        APPEND_LOCK_SQL, [APPEND_LOCK, current_organization().pk]
                    )
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                    "FROM generate_series(1, %s)",
                    [model._meta.db_table, count],
                )
                return [row[0] for row in cursor.fetchall()]
        # Elsewhere (SQLite) the caller's transaction holds the database's only
        # write lock, so nobody else can take ids above the high-water mark.
        if model not in self._high_water:
            top = model._base_manager.aggregate(top=Max("pk"))["top"]
            self._high_water[model] = top or 0
        start = self._high_water[model] + 1
        self._high_water[model] += count
        return list(range(start, start + count))

    def _copy(self, model, rows: list[dict]) -> None:
        """COPY in CSV format: Python's C csv writer formats rows many times faster
        than building COPY text in Python. In CSV an unquoted empty field is NULL,
        so NOT NULL text columns are told to read it as the empty string."""
        fields = model._meta.concrete_fields
        defaults = self._defaults_for(model)
        names = [f.attname for f in fields]
        quote = connection.ops.quote_name
        options = "FORMAT csv"
        not_null_text = [
            quote(f.column)
            for f in fields
            if isinstance(f, models.CharField | models.TextField | models.FileField)
            and not f.null
        ]
        if not_null_text:
            options += f", FORCE_NOT_NULL ({', '.join(not_null_text)})"
        columns = ", ".join(quote(f.column) for f in fields)
        table = quote(model._meta.db_table)
        staged = self._bound_by_row_security(model)
        target = quote(f"bulk_{model._meta.db_table}") if staged else table
        sql = f"COPY {target} ({columns}) FROM STDIN WITH ({options})"
        special = _special_columns(fields)
        with connection.cursor() as cursor:
            raw = cursor.cursor
            for start in range(0, len(rows), COPY_ROWS):
                if staged:
                    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{target}")
                    cursor.execute(
                        f"CREATE TEMPORARY TABLE {target} (LIKE {table}) ON COMMIT DROP"
                    )
                buffer = io.StringIO()
                values = [
                    [row.get(name, defaults[name]) for name in names]
                    for row in rows[start : start + COPY_ROWS]
                ]
                if special:
                    _prepare_special(values, special)
                csv.writer(buffer, lineterminator="\n").writerows(values)
                buffer.seek(0)
                if hasattr(raw, "copy_expert"):  # psycopg2
                    raw.copy_expert(sql, buffer)
                else:  # psycopg 3
                    with raw.copy(sql) as copy:
                        copy.write(buffer.getvalue())
                if staged:
                    cursor.execute(
                        f"INSERT INTO {table} ({columns}) "
                        f"SELECT {columns} FROM {target}"
                    )
                    cursor.execute(f"DROP TABLE {target}")

    def _bound_by_row_security(self, model) -> bool:
        """PostgreSQL refuses ``COPY FROM`` into a table whose row-level security
        binds the session (the application role, README "Tenant isolation"):
        then the rows go through a temporary table and one ``INSERT … SELECT``,
        which the policy checks."""
        if model not in self._row_security:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT row_security_active(%s::regclass)",
                    [model._meta.db_table],
                )
                self._row_security[model] = cursor.fetchone()[0]
        return self._row_security[model]

    def _defaults_for(self, model) -> dict:
        if model not in self._defaults:
            defaults = {}
            for f in model._meta.concrete_fields:
                if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                    defaults[f.attname] = self.now
                elif not f.primary_key:
                    defaults[f.attname] = f.get_default()
                else:
                    defaults[f.attname] = None
            self._defaults[model] = defaults
        return self._defaults[model]


def _special_columns(fields) -> list[tuple[int, str]]:
    """Columns whose values CSV cannot take as they are: JSON, and nullable text
    (where an empty string would read back as NULL)."""
    special = []
    for index, model_field in enumerate(fields):
        if isinstance(model_field, models.JSONField):
            special.append((index, "json"))
        elif (
            isinstance(model_field, models.CharField | models.TextField)
            and model_field.null
        ):
            special.append((index, "nullable_text"))
    return special


def _prepare_special(values: list[list], special) -> None:
    for row in values:
        for index, kind in special:
            value = row[index]
            if kind == "json":
                row[index] = None if value is None else json.dumps(value)
            elif value == "":
                raise BulkLoadError(
                    "An empty string in a nullable text column would load as NULL."
                )


def reserve_numbers(*, name: str, prefix: str, count: int) -> list[str]:
    """Take ``count`` consecutive numbers of sequence ``name`` (as ``next_number``)."""
    return next_numbers(name, prefix=prefix, count=count)


@dataclass(slots=True)
class LineSpec:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal = Decimal(0)
    item_id: int | None = None
    order_line_id: int | None = None


@dataclass(slots=True)
class PlannedCredit:
    posting_date: date
    amount: Decimal  # positive: what the credit takes off the open amount


@dataclass(slots=True)
class PlannedFee:
    """A fee (dunning fee, interest) charged on the invoice, as ``fee_post`` would."""

    posting_date: date
    amount: Decimal  # positive: what the fee adds to the open amount
    document_type: str
    document_id: int
    memo: str = ""


@dataclass(slots=True, eq=False)
class InvoiceSpec:
    """One invoice as it stands at the end of the load.

    ``credits`` are every credit it receives in this load and ``fees`` every fee
    charged on it (the loader posts those itself); ``void_date`` voids an invoice
    that received neither. ``draft`` invoices are neither numbered nor posted.
    """

    customer_id: int
    currency: str
    invoice_date: date
    term: PaymentTerm
    lines: list[LineSpec]
    credits: list[PlannedCredit] = field(default_factory=list)
    fees: list[PlannedFee] = field(default_factory=list)
    void_date: date | None = None
    draft: bool = False
    sales_order_id: int | None = None
    source: str = Invoice.Source.DIRECT
    customer_reference: str = ""
    notes: str = ""
    # Set by price_invoice:
    priced: list | None = None
    subtotal: Decimal | None = None
    tax_total: Decimal | None = None
    total: Decimal | None = None
    schedule: list[tuple[date, Decimal]] | None = None
    # Set by InvoiceLoader.add_invoices:
    id: int | None = None
    number: str | None = None
    open_amount: Decimal | None = None

    @property
    def due_date(self) -> date:
        return self.schedule[0][0]


@dataclass(slots=True, eq=False)
class CreditNoteSpec:
    invoice: InvoiceSpec
    credit_date: date
    reason: str
    lines: list[LineSpec]
    id: int | None = None
    number: str | None = None


def price_lines(lines: Iterable[LineSpec], currency: str):
    """(priced lines, subtotal, tax total, total) with the services' arithmetic."""
    priced = [
        price_line(
            currency=currency,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
        )
        for line in lines
    ]
    subtotal = sum((p.net_amount for p in priced), Decimal(0))
    tax_total = sum((p.tax_amount for p in priced), Decimal(0))
    return priced, subtotal, tax_total, subtotal + tax_total


def price_invoice(spec: InvoiceSpec) -> InvoiceSpec:
    """Price the lines and work out the due dates (before planning its credits)."""
    if spec.priced is None:
        spec.priced, spec.subtotal, spec.tax_total, spec.total = price_lines(
            spec.lines, spec.currency
        )
        spec.schedule = due_schedule(
            spec.term, spec.invoice_date, spec.total, spec.currency
        )
    return spec


class InvoiceLoader:
    """Writes invoices, credit notes and their ledger entries through a writer."""

    def __init__(self, writer: BulkWriter):
        self.writer = writer
        self.organization = current_organization()
        self.tzinfo = self.organization.tzinfo
        # Invoices still waiting for planned credits, by id.
        self._awaiting: dict[int, InvoiceSpec] = {}
        self._planned: dict[int, Counter] = {}

    # --- ledger ------------------------------------------------------------------
    def ledger_entry(
        self,
        *,
        customer_id: int,
        kind: str,
        amount: Decimal,
        currency: str,
        posting_date: date,
        document_type: str,
        document_id: int,
        invoice_id: int | None = None,
        payment_id: int | None = None,
        reverses_id: int | None = None,
        memo: str = "",
    ) -> int:
        if not amount:
            raise BulkLoadError(f"Zero ledger amount for {document_type}#{document_id}")
        entry_id = self.writer.new_id(LedgerEntry)
        self.writer.add(
            LedgerEntry,
            {
                "id": entry_id,
                "organization_id": self.organization.pk,
                "customer_id": customer_id,
                "invoice_id": invoice_id,
                "kind": kind,
                "amount": amount,
                "currency": currency,
                "posting_date": posting_date,
                "document_type": document_type,
                "document_id": document_id,
                "payment_id": payment_id,
                "reverses_id": reverses_id,
                "memo": memo[:200],
            },
        )
        return entry_id

    def take_credit(self, invoice: InvoiceSpec, amount: Decimal, posting_date: date):
        """Account for one planned credit being posted now; refuse unplanned ones."""
        planned = self._planned.get(invoice.id)
        key = (posting_date, amount)
        if not planned or not planned[key]:
            raise BulkLoadError(
                f"Invoice {invoice.number}: credit of {amount} on {posting_date} "
                "was not planned when the invoice was loaded."
            )
        planned[key] -= 1
        if not +planned:
            del self._planned[invoice.id]
            del self._awaiting[invoice.id]

    def finish(self) -> None:
        """Refuse a load that left planned credits unposted, then rebuild the
        customers' receivables summary from the ledger (set-based). Call it after
        the last :meth:`BulkWriter.flush`."""
        if self._awaiting:
            numbers = [spec.number for spec in list(self._awaiting.values())[:5]]
            raise BulkLoadError(
                f"{len(self._awaiting)} invoice(s) did not receive their planned "
                f"credits, e.g. {numbers}."
            )
        summary_rebuild()

    # --- invoices ------------------------------------------------------------------
    def add_invoices(self, specs: list[InvoiceSpec]) -> None:
        """Number (in the given order), price and write ``specs``."""
        numbers = iter(
            reserve_numbers(
                name="invoice",
                prefix="INV-",
                count=sum(1 for spec in specs if not spec.draft),
            )
        )
        for spec in specs:
            self._add_invoice(spec, None if spec.draft else next(numbers))

    def _add_invoice(self, spec: InvoiceSpec, number: str | None) -> None:
        writer, org_id = self.writer, self.organization.pk
        price_invoice(spec)
        spec.id, spec.number = writer.new_id(Invoice), number
        status, open_amount, settled = self._final_state(spec, spec.total)
        spec.open_amount = open_amount
        # As invoice_issue keeps it: the term's discount at issue.
        discount = (
            None
            if spec.draft
            else early_payment_discount(
                spec.term, spec.invoice_date, spec.total, spec.currency
            )
        )
        discount_percent, discount_date, discount_amount = discount or (None,) * 3
        writer.add(
            Invoice,
            {
                "id": spec.id,
                "organization_id": org_id,
                "number": number,
                "customer_id": spec.customer_id,
                "sales_order_id": spec.sales_order_id,
                "source": spec.source,
                "status": status,
                "currency": spec.currency,
                "invoice_date": spec.invoice_date,
                "due_date": spec.due_date,
                "customer_reference": spec.customer_reference,
                "subtotal": spec.subtotal,
                "tax_total": spec.tax_total,
                "total": spec.total,
                "open_amount": open_amount,
                "notes": spec.notes,
                "issued_at": None if spec.draft else self._morning(spec.invoice_date),
                "settled_date": settled,
                "discount_percent": discount_percent,
                "discount_date": discount_date,
                "discount_amount": discount_amount,
            },
        )
        lines = zip(spec.priced, spec.lines, strict=True)
        for position, (p, line) in enumerate(lines, 1):
            writer.add(
                InvoiceLine,
                {
                    "id": writer.new_id(InvoiceLine),
                    "organization_id": org_id,
                    "invoice_id": spec.id,
                    "position": position,
                    "order_line_id": line.order_line_id,
                    "item_id": line.item_id,
                    **p.columns(),
                },
            )
        for sequence, (due, amount) in enumerate(spec.schedule, 1):
            writer.add(
                InvoiceInstalment,
                {
                    "id": writer.new_id(InvoiceInstalment),
                    "organization_id": org_id,
                    "invoice_id": spec.id,
                    "sequence": sequence,
                    "due_date": due,
                    "amount": amount,
                },
            )
        if not spec.draft:
            self._post_invoice(spec)

    def _final_state(self, spec: InvoiceSpec, total: Decimal):
        """Status, open amount and settled date once every planned credit is in."""
        if spec.draft:
            if spec.credits or spec.fees or spec.void_date:
                raise BulkLoadError("A draft invoice takes no credits, fees or void.")
            return Invoice.Status.DRAFT, Decimal(0), None
        if spec.void_date:
            if spec.credits or spec.fees or spec.void_date < spec.invoice_date:
                raise BulkLoadError("Only an invoice without credits is voided.")
            return Invoice.Status.VOID, Decimal(0), None
        if total <= 0:
            raise BulkLoadError(f"Invoice total {total} is not positive.")
        if any(
            c.posting_date < spec.invoice_date or c.amount <= 0 for c in spec.credits
        ):
            raise BulkLoadError("Credits are positive and not before the invoice.")
        if any(f.posting_date < spec.invoice_date or f.amount <= 0 for f in spec.fees):
            raise BulkLoadError("Fees are positive and not before the invoice.")
        fees = sum((f.amount for f in spec.fees), Decimal(0))
        open_amount = self._end_of_day_balances(spec, total)[-1][1]
        status = payment_status(total=total, fees=fees, open_amount=open_amount)
        if status == Invoice.Status.PAID:
            last = max(
                [c.posting_date for c in spec.credits]
                + [f.posting_date for f in spec.fees]
            )
            return status, open_amount, last
        return status, open_amount, None

    @staticmethod
    def _end_of_day_balances(spec: InvoiceSpec, total: Decimal):
        """(day, open amount) at the end of each posting day; never below zero, as
        ``ledger_post`` would refuse a credit that takes any day's balance there."""
        movements = Counter({spec.invoice_date: total})
        for fee in spec.fees:
            movements[fee.posting_date] += fee.amount
        for credit in spec.credits:
            movements[credit.posting_date] -= credit.amount
        balances, running = [], Decimal(0)
        for day in sorted(movements):
            running += movements[day]
            if running < 0:
                raise BulkLoadError(
                    f"Credits exceed the total and fees charged by {-running}"
                    f" as of {day}."
                )
            balances.append((day, running))
        return balances

    def _post_invoice(self, spec: InvoiceSpec) -> None:
        debit_id = self.ledger_entry(
            customer_id=spec.customer_id,
            invoice_id=spec.id,
            kind=LedgerEntry.Kind.INVOICE,
            amount=spec.total,
            currency=spec.currency,
            posting_date=spec.invoice_date,
            document_type=INVOICE_DOC,
            document_id=spec.id,
            memo=f"Invoice {spec.number}",
        )
        for fee in spec.fees:
            self.ledger_entry(
                customer_id=spec.customer_id,
                invoice_id=spec.id,
                kind=LedgerEntry.Kind.FEE,
                amount=fee.amount,
                currency=spec.currency,
                posting_date=fee.posting_date,
                document_type=fee.document_type,
                document_id=fee.document_id,
                memo=fee.memo,
            )
        if spec.void_date:
            self.ledger_entry(
                customer_id=spec.customer_id,
                invoice_id=spec.id,
                kind=LedgerEntry.Kind.REVERSAL,
                amount=-spec.total,
                currency=spec.currency,
                posting_date=spec.void_date,
                document_type=INVOICE_DOC,
                document_id=spec.id,
                reverses_id=debit_id,
                memo=f"Void of invoice {spec.number}",
            )
        elif spec.credits:
            self._awaiting[spec.id] = spec
            self._planned[spec.id] = Counter(
                (c.posting_date, c.amount) for c in spec.credits
            )

    def _morning(self, day: date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(8, 30), tzinfo=self.tzinfo)

    # --- credit notes --------------------------------------------------------------
    def add_credit_notes(self, specs: list[CreditNoteSpec]) -> None:
        numbers = reserve_numbers(name="credit_note", prefix="CN-", count=len(specs))
        writer, org_id = self.writer, self.organization.pk
        for spec, number in zip(specs, numbers, strict=True):
            invoice = spec.invoice
            priced, subtotal, tax_total, total = price_lines(
                spec.lines, invoice.currency
            )
            self.take_credit(invoice, total, spec.credit_date)
            spec.id, spec.number = writer.new_id(CreditNote), number
            writer.add(
                CreditNote,
                {
                    "id": spec.id,
                    "organization_id": org_id,
                    "number": number,
                    "customer_id": invoice.customer_id,
                    "invoice_id": invoice.id,
                    "status": CreditNote.Status.ISSUED,
                    "currency": invoice.currency,
                    "credit_date": spec.credit_date,
                    "reason": spec.reason,
                    "subtotal": subtotal,
                    "tax_total": tax_total,
                    "total": total,
                },
            )
            for position, p in enumerate(priced, 1):
                writer.add(
                    CreditNoteLine,
                    {
                        "id": writer.new_id(CreditNoteLine),
                        "organization_id": org_id,
                        "credit_note_id": spec.id,
                        "position": position,
                        "description": p.description,
                        "quantity": p.quantity,
                        "unit_price": p.unit_price,
                        "net_amount": p.net_amount,
                        "tax_rate": p.tax_rate,
                        "tax_amount": p.tax_amount,
                    },
                )
            self.ledger_entry(
                customer_id=invoice.customer_id,
                invoice_id=invoice.id,
                kind=LedgerEntry.Kind.CREDIT_NOTE,
                amount=-total,
                currency=invoice.currency,
                posting_date=spec.credit_date,
                document_type=CREDIT_NOTE_DOC,
                document_id=spec.id,
                memo=f"Credit note {number}",
            )
