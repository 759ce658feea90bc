"""Importing customers, open invoices and settled invoice history from CSV or XLSX.

Flow: :func:`import_job_create` stores the upload on a :class:`~o2c.models.Job`
(with its sha256) and enqueues ``invoicing.run_import`` on commit; the task calls
:func:`import_run`, which claims the job, reads the file, checks every row (see
``validation``) and then writes everything in ONE transaction — or nothing.

What an imported invoice becomes
    An issued invoice with ``source="import"``, one line "Imported from <file>", one
    instalment (its due date), its debit posted through ``ledger_post`` (kind
    INVOICE, posting date = invoice date). The old system's number is always kept
    as ``external_id`` — the key that makes a second import of the same row a no-op
    ("unchanged") — and is also used as ``number`` unless it is already an invoice
    number here, is longer than our numbers may be, or looks like one our own
    sequence will produce ("INV-000123"); then the invoice takes our next number
    and the result lists it under ``renumbered``. A settled (or partly settled)
    invoice also gets an :class:`~invoicing.models.ImportedSettlement` row and a
    credit of kind IMPORTED_SETTLEMENT on the settled date, so the ledger derives
    its status (paid / partially paid) and settled date like any other invoice.
    ``issued_at`` is the start of the invoice date in the organization's timezone.
    The disputed flag is kept per invoice in the job's result until the collections
    stage can open disputes for it. (Invoices are inserted as drafts, posted, then
    given their derived status in bulk: see ``_issue_with_derived_status``.)

Idempotency
    A file whose content (sha256) was already imported successfully succeeds again
    with "already imported, 0 created". Any other file is still idempotent row by
    row: invoices by ``external_id``, customers by ``number`` (existing rows are
    left as they are and counted as unchanged).

Progress
    The checks run outside any transaction, so their progress is committed and seen
    at once. The writes run in one long transaction. On PostgreSQL progress is
    written through a second connection in autocommit, visible while the import
    runs. SQLite has one writer at a time: a second connection would wait for the
    import's own lock, so progress is written through the import's connection and
    becomes visible when the import commits.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, time
from decimal import Decimal

from django.core.files.storage import default_storage
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from invoicing.imports.parsing import (
    DATE_FORMATS,
    ISO,
    RowError,
    iter_chunks,
    read_tables,
)
from invoicing.imports.validation import (
    MAX_ERRORS,
    ErrorList,
    ImportPlan,
    InvoiceRecord,
    plan_import,
)
from invoicing.models import (
    ImportedSettlement,
    Invoice,
    InvoiceInstalment,
    InvoiceLine,
    LedgerEntry,
)
from invoicing.services.invoices import invoice_debit
from invoicing.services.ledger import Posting, ledger_post
from invoicing.status import fees_by_invoice, payment_status
from o2c.errors import DomainError
from o2c.jobs import job_claim, job_enqueue_on_commit, storable
from o2c.models import AuditEvent, Job, Role, Sequence
from o2c.money import quantize
from o2c.services import Actor, audit_record, next_number, transition
from o2c.tenancy import current_organization
from o2c.webhooks import event_batch, events_emit
from orders.models import Customer

logger = logging.getLogger(__name__)

JOB_KINDS = {"invoices": "import_invoices", "customers": "import_customers"}
KIND_CAPABILITY = {"invoices": "bill", "customers": "manage_customers"}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
FILE_SUFFIXES = (".csv", ".txt", ".xlsx")
PROGRESS_EVERY = 500
WRITE_CHUNK = 500
WRITE_ATTEMPTS = 2
MAX_LISTED = 200  # renumbered invoices listed in the result
INVOICE_PREFIX = "INV-"  # invoice_issue's default for the "invoice" sequence


class FileTooLarge(DomainError):
    status_code = 413


def kind_of(job: Job) -> str:
    return {v: k for k, v in JOB_KINDS.items()}[job.kind]


# --- upload ------------------------------------------------------------------------


@transaction.atomic
def import_job_create(
    *,
    kind: str,
    file,
    customers_file=None,
    date_format: str = ISO,
    actor: Actor,
) -> Job:
    """Store an upload as a queued import job; the worker picks it up on commit.

    ``customers_file`` (invoices only) is imported first in the same transaction,
    so invoices may name customers that exist only in it.
    """
    if kind not in JOB_KINDS:
        raise DomainError(
            "invalid_choice", _('Kind must be "invoices" or "customers".'), field="kind"
        )
    if date_format not in DATE_FORMATS:
        raise DomainError(
            "invalid_choice",
            _("Date format must be one of %(formats)s.")
            % {"formats": ", ".join(DATE_FORMATS)},
            field="date_format",
        )
    if customers_file is not None and kind != "invoices":
        raise DomainError(
            "not_allowed",
            _("A customers file goes with an invoices import only."),
            field="customers_file",
        )
    organization = current_organization()
    input_sha256 = _check_upload(file, field="file")
    parameters = {
        "date_format": date_format,
        "requested_by": actor.label,
        "role": actor.role,
    }
    if customers_file is not None:
        parameters |= {
            "customers_sha256": _check_upload(customers_file, field="customers_file"),
            "customers_name": customers_file.name,
            "customers_file": default_storage.save(
                _storage_name(organization, customers_file.name), customers_file
            ),
        }
    job = Job(
        organization=organization,
        kind=JOB_KINDS[kind],
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
        input_name=file.name,
        input_sha256=input_sha256,
        parameters=parameters,
    )
    job.input_file.save(
        f"{organization.pk}/{get_valid_filename(file.name)}", file, save=False
    )
    job.save()
    audit_record(
        actor=actor,
        obj=job,
        action="import_requested",
        to_status=job.status,
        data={"file": file.name, "sha256": job.input_sha256, "kind": kind},
    )
    job_enqueue_on_commit(job)
    return job


def _check_upload(upload, *, field: str) -> str:
    """Refuse what cannot be an import file; returns the content's sha256."""
    if upload.size > MAX_UPLOAD_BYTES:
        raise FileTooLarge(
            "file_too_large",
            f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Split it into several files.",
            field=field,
        )
    if upload.size == 0:
        raise DomainError("empty_file", _("The file is empty."), field=field)
    if not upload.name.lower().endswith(FILE_SUFFIXES):
        raise DomainError(
            "unsupported_file",
            _("Upload a .csv or an .xlsx file."),
            field=field,
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _storage_name(organization, filename: str) -> str:
    # Files are kept per organization, like everything else.
    stamp = timezone.now().strftime("%Y/%m")
    return posixpath.join(
        "jobs", stamp, str(organization.pk), get_valid_filename(filename)
    )


# --- run ---------------------------------------------------------------------------


def import_run(*, job_id: int) -> Job | None:
    """Run a queued import once; a finished (or running) job is left alone.

    A job still "running" after the task's hard time limit belongs to a worker that
    died: its transaction was rolled back, so it is safe to claim and run again.
    """
    job = _claim(job_id)
    if job is None:
        return None
    actor = _job_actor(job)
    try:
        return _run(job, actor=actor)
    except Exception:
        logger.exception("Import job %s stopped", job.pk)
        message = (
            f"The import stopped on an unexpected error (job {job.pk}); nothing was "
            "imported. Try again, or contact support with the job number."
        )
        return _finish(job, Job.Status.FAILED, actor, errors=[_error(message)])


def _claim(job_id: int) -> Job | None:
    return job_claim(job_id, kinds=Q(kind__in=JOB_KINDS.values()), actor_of=_job_actor)


def _job_actor(job: Job) -> Actor:
    label = job.parameters.get("requested_by") or f"import job {job.pk}"
    return Actor(
        label=label, role=job.parameters.get("role", Role.FINANCE), user=job.created_by
    )


def _run(job: Job, *, actor: Actor) -> Job:
    kind = kind_of(job)
    earlier = _same_file_imported(job)
    if earlier is not None:
        return _finish(
            job,
            Job.Status.SUCCEEDED,
            actor,
            result={
                "created": 0,
                "unchanged": 0,
                "duplicate_of": earlier.pk,
                "message": f"Already imported by job {earlier.pk}, 0 created.",
            },
        )
    errors = ErrorList()
    tables = _read_files(job, kind=kind, errors=errors)
    if errors:
        return _finish(job, Job.Status.FAILED, actor, errors=errors)
    progress = _Progress(job, total=sum(len(t.rows) for t in tables.values()))
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        progress.start("checking")
        plan = plan_import(
            tables,
            kind=kind,
            date_format=job.parameters.get("date_format", ISO),
            errors=errors,
            on_row=progress.advance,
        )
        if errors:
            return _finish(
                job, Job.Status.FAILED, actor, errors=errors, result=_counts(plan, kind)
            )
        progress.start(
            "importing", done=plan.unchanged_customers + plan.unchanged_invoices
        )
        try:
            with transaction.atomic(), progress.while_transaction_open():
                result = _write(
                    plan, kind=kind, actor=actor, job=job, progress=progress.advance
                )
                return _finish(job, Job.Status.SUCCEEDED, actor, result=result)
        except IntegrityError:
            # Someone wrote some of these rows since they were checked (the same
            # file imported twice at once): check again, they now count as
            # unchanged.
            logger.warning("Import job %s collided (attempt %s)", job.pk, attempt)
    message = (
        "Other imports kept creating the same rows while this one ran; nothing was "
        "imported. Upload the file again: rows already present are skipped."
    )
    return _finish(job, Job.Status.FAILED, actor, errors=[_error(message)])


def _same_file_imported(job: Job) -> Job | None:
    if not job.input_sha256:
        return None
    candidates = Job.objects.filter(
        kind=job.kind, input_sha256=job.input_sha256, status=Job.Status.SUCCEEDED
    ).exclude(pk=job.pk)
    customers_sha = job.parameters.get("customers_sha256")
    for candidate in candidates.order_by("pk"):
        if candidate.parameters.get("customers_sha256") == customers_sha:
            return candidate
    return None


def _read_files(job: Job, *, kind: str, errors: ErrorList) -> dict:
    with job.input_file.open("rb") as handle:
        content = handle.read()
    tables, read_errors = read_tables(content, filename=job.input_name, kind=kind)
    errors.extend(read_errors)
    customers_path = job.parameters.get("customers_file")
    if customers_path and not errors:
        with default_storage.open(customers_path, "rb") as handle:
            content = handle.read()
        customer_tables, read_errors = read_tables(
            content, filename=job.parameters["customers_name"], kind="customers"
        )
        errors.extend(read_errors)
        if "customers" in tables and "customers" in customer_tables:
            errors.add(
                None,
                "",
                "The workbook has a Customers sheet and a customers file was uploaded "
                "too; send the customers one way only.",
            )
        tables |= customer_tables
    return tables


def _finish(
    job: Job,
    status: str,
    actor: Actor,
    *,
    result: dict | None = None,
    errors: ErrorList | list | None = None,
) -> Job:
    result = dict(result or {})
    error_items, message = [], ""
    if isinstance(errors, ErrorList):
        error_items = [error.as_dict() for error in errors.items]
        result["error_count"] = errors.count
        if errors.count > MAX_ERRORS:
            result["errors_truncated"] = True
        message = _failure_message(errors)
    elif errors:  # one problem with the job, not with the file's rows
        error_items = [error.as_dict() for error in errors]
        result["error_count"] = len(error_items)
        message = errors[0].message
    if status == Job.Status.FAILED:
        result |= {"created": 0, "message": message}
    result["phase"] = "done"
    succeeded = status == Job.Status.SUCCEEDED
    return transition(
        obj=job,
        to_status=status,
        actor=actor,
        action="import_succeeded" if succeeded else "import_failed",
        data={key: result[key] for key in ("created", "unchanged") if key in result},
        extra_fields={
            "finished_at": timezone.now(),
            "result": storable(result),
            "errors": storable(error_items),
            "progress": job.total if succeeded else job.progress,
        },
    )


def _failure_message(errors: ErrorList) -> str:
    more = f" (the first {MAX_ERRORS} are listed)" if errors.count > MAX_ERRORS else ""
    noun = "problem" if errors.count == 1 else "problems"
    return f"Nothing was imported: {errors.count} {noun} to fix in the file{more}."


def _error(message: str) -> RowError:
    return RowError(None, "", message)


def _counts(plan: ImportPlan, kind: str) -> dict:
    result = {"rows": plan.rows, "ignored_columns": plan.ignored_columns}
    if kind == "customers":
        result |= {
            "to_create": len(plan.new_customers),
            "unchanged": plan.unchanged_customers,
        }
    else:
        result |= {
            "to_create": len(plan.new_invoices),
            "unchanged": plan.unchanged_invoices,
        }
    return result


class _Progress:
    """Rows done so far, written every ``PROGRESS_EVERY`` rows for the UI to poll."""

    def __init__(self, job: Job, *, total: int):
        self.job, self.total = job, total
        self.done = self.reported = 0
        self._separate = None

    def start(self, phase: str, *, done: int = 0) -> None:
        """Begin a pass over the rows: "checking", then "importing" (where the rows
        already there count as done)."""
        self.done = self.reported = done
        self.job.total, self.job.progress = self.total, done
        self.job.result = {"phase": phase}
        Job.objects.filter(pk=self.job.pk).update(
            total=self.total, progress=done, result=self.job.result
        )

    def advance(self, rows: int = 1) -> None:
        self.done += rows
        if self.done - self.reported >= PROGRESS_EVERY:
            self._write()

    def _write(self) -> None:
        self.reported = self.job.progress = self.done
        if self._separate is None:
            Job.objects.filter(pk=self.job.pk).update(progress=self.done)
            return
        table = self._separate.ops.quote_name(Job._meta.db_table)
        with self._separate.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET progress = %s WHERE id = %s",
                [self.done, self.job.pk],
            )

    @contextmanager
    def while_transaction_open(self):
        """Write progress where other sessions see it before the import commits."""
        if connection.vendor != "postgresql":
            yield
            return
        self._separate = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            yield
        finally:
            self._separate.close()
            self._separate = None


# --- write -------------------------------------------------------------------------


def _write(plan: ImportPlan, *, kind: str, actor: Actor, job: Job, progress) -> dict:
    customer_ids = dict(plan.customer_ids)
    customer_ids |= _create_customers(plan, actor=actor, job=job, progress=progress)
    result = {
        "rows": plan.rows,
        "ignored_columns": plan.ignored_columns,
        "customers_created": len(plan.new_customers),
        "customers_unchanged": plan.unchanged_customers,
    }
    if kind == "customers":
        created, unchanged = len(plan.new_customers), plan.unchanged_customers
        return result | {
            "created": created,
            "unchanged": unchanged,
            "message": f"{created} customers created, {unchanged} unchanged.",
        }
    result |= _create_invoices(
        plan,
        customer_ids=customer_ids,
        actor=actor,
        job=job,
        progress=progress,
    )
    return result


def _create_customers(plan: ImportPlan, *, actor, job, progress) -> dict[str, int]:
    organization = current_organization()
    ids = {}
    for chunk in iter_chunks(plan.new_customers, WRITE_CHUNK):
        customers = Customer.objects.bulk_create(
            Customer(organization=organization, number=record.number, **record.fields)
            for record in chunk
        )
        _audit_imported(customers, actor=actor, job=job, lines=[r.line for r in chunk])
        ids |= {customer.number: customer.pk for customer in customers}
        progress(len(chunk))
    return ids


def _create_invoices(plan: ImportPlan, *, customer_ids, actor, job, progress) -> dict:
    organization = current_organization()
    numbering = _Numbering(plan.numbers_in_use)
    description = f"Imported from {job.input_name}"[:300]
    disputed, statuses = [], defaultdict(int)
    totals = defaultdict(lambda: {"amount": Decimal(0), "open_amount": Decimal(0)})
    for chunk in iter_chunks(plan.new_invoices, WRITE_CHUNK):
        _give_sqlite_ledger_statistics()
        invoices = Invoice.objects.bulk_create(
            _new_invoice(record, organization, customer_ids, numbering)
            for record in chunk
        )
        _create_lines(invoices, description, organization)
        settlements = _create_settlements(chunk, invoices, organization)
        ledger_post(postings=_postings(chunk, invoices, settlements), actor=actor)
        _issue_with_derived_status(invoices)
        _audit_imported(invoices, actor=actor, job=job, lines=[r.line for r in chunk])
        # One INSERT of the chunk's events; settlements imported with an invoice
        # are its history, not a payment happening now: no invoice.paid.
        for invoice in invoices:
            if invoice.status == Invoice.Status.PAID:  # as the UPDATE above set it
                invoice.settled_date = settlements[invoice.pk].settled_date
        with event_batch():
            events_emit("invoice.created", invoices)
            events_emit("invoice.issued", invoices)
        for record, invoice in zip(chunk, invoices, strict=True):
            statuses[invoice.status] += 1
            totals[record.currency]["amount"] += invoice.total
            totals[record.currency]["open_amount"] += invoice.open_amount
            if record.disputed:
                disputed.append(
                    {"line": record.line, "number": record.number, "id": invoice.pk}
                )
        progress(len(chunk))
    created = len(plan.new_invoices)
    message = f"{created} invoices created, {plan.unchanged_invoices} unchanged"
    if plan.new_customers:
        message += f", {len(plan.new_customers)} customers created"
    return {
        "created": created,
        "unchanged": plan.unchanged_invoices,
        "open": statuses[Invoice.Status.OPEN],
        "partially_settled": statuses[Invoice.Status.PARTIALLY_PAID],
        "settled": statuses[Invoice.Status.PAID],
        "totals": _as_strings(totals),
        "renumbered": numbering.renumbered[:MAX_LISTED],
        "renumbered_count": len(numbering.renumbered),
        "disputed": disputed,
        "message": f"{message}.",
    }


def _as_strings(totals: dict) -> dict:
    return {
        currency: {
            name: str(quantize(amount, currency)) for name, amount in sums.items()
        }
        for currency, sums in sorted(totals.items())
    }


def _give_sqlite_ledger_statistics() -> None:
    """Let SQLite's planner know the ledger's invoice index is the selective one.

    Without statistics (no ANALYZE ever ran) SQLite answers ``ledger_post``'s
    per-invoice sums through the organization index, scanning the tenant's whole
    ledger for each invoice: quadratic, 10,000 rows took 40% longer. An ANALYZE of
    an empty table records nothing, so this runs before each chunk until the table
    has statistics; PostgreSQL keeps its own.
    """
    if connection.vendor != "sqlite":
        return
    table = LedgerEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is not None:
            cursor.execute("SELECT 1 FROM sqlite_stat1 WHERE tbl = %s", [table])
            if cursor.fetchone() is not None:
                return
        cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def _issue_with_derived_status(invoices: list[Invoice]) -> None:
    """Give each invoice the status its ledger balance derives (open/partly/paid).

    The invoices were inserted as drafts so that ``ledger_post`` keeps their open
    amounts without a locked transition and an audit event per invoice (which
    tripled the time of a 10,000-row import); the status is then derived here with
    the ledger's own rule (:func:`invoicing.status.payment_status`), one UPDATE per
    status, and recorded by the invoice's "imported" audit event. No other session
    ever sees them as drafts: all of it happens in the import's transaction.
    """
    open_amounts = dict(
        Invoice.objects.filter(pk__in=[i.pk for i in invoices]).values_list(
            "pk", "open_amount"
        )
    )
    fees = fees_by_invoice(open_amounts)
    by_status = defaultdict(list)
    for invoice in invoices:
        invoice.open_amount = open_amounts[invoice.pk]
        invoice.status = payment_status(
            total=invoice.total,
            fees=fees.get(invoice.pk, Decimal(0)),
            open_amount=invoice.open_amount,
        )
        by_status[invoice.status].append(invoice.pk)
    for status, ids in by_status.items():
        changes = {"status": status}
        if status == Invoice.Status.PAID:
            # Paid by its imported settlement, the last posting on it.
            changes["settled_date"] = Subquery(
                ImportedSettlement.objects.filter(invoice=OuterRef("pk")).values(
                    "settled_date"
                )
            )
        Invoice.objects.filter(pk__in=ids).update(**changes)


class _Numbering:
    """Keeps the old number as ours unless it clashes, now or with our sequence."""

    def __init__(self, numbers_in_use: set[str]):
        self.in_use = numbers_in_use
        prefix = (
            Sequence.objects.filter(name="invoice")
            .values_list("prefix", flat=True)
            .first()
        )
        self.ours = re.compile(rf"^{re.escape(prefix or INVOICE_PREFIX)}\d+$")
        self.max_length = Invoice._meta.get_field("number").max_length
        self.renumbered: list[dict] = []

    def number_for(self, old_number: str) -> str:
        if (
            old_number in self.in_use
            or len(old_number) > self.max_length
            or self.ours.match(old_number)
        ):
            number = next_number("invoice", prefix=INVOICE_PREFIX)
            self.renumbered.append({"external_id": old_number, "number": number})
            return number
        return old_number


def _new_invoice(record: InvoiceRecord, organization, customer_ids, numbering):
    issued_at = datetime.combine(record.invoice_date, time(), organization.tzinfo)
    return Invoice(
        organization=organization,
        customer_id=customer_ids[record.customer_number],
        number=numbering.number_for(record.number),
        external_id=record.number,
        source=Invoice.Source.IMPORT,
        status=Invoice.Status.DRAFT,  # until its postings are in, see below
        currency=record.currency,
        invoice_date=record.invoice_date,
        due_date=record.due_date,
        customer_reference=record.customer_reference,
        subtotal=record.amount,
        tax_total=Decimal(0),
        total=record.amount,
        open_amount=Decimal(0),
        issued_at=issued_at,
    )


def _create_lines(invoices: list[Invoice], description: str, organization) -> None:
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            organization=organization,
            invoice=invoice,
            position=1,
            description=description,
            quantity=Decimal(1),
            unit_price=invoice.total,
            net_amount=invoice.total,
        )
        for invoice in invoices
    )
    InvoiceInstalment.objects.bulk_create(
        InvoiceInstalment(
            organization=organization,
            invoice=invoice,
            sequence=1,
            due_date=invoice.due_date,
            amount=invoice.total,
        )
        for invoice in invoices
    )


def _create_settlements(
    records: list[InvoiceRecord], invoices: list[Invoice], organization
) -> dict[int, ImportedSettlement]:
    settlements = ImportedSettlement.objects.bulk_create(
        ImportedSettlement(
            organization=organization,
            invoice=invoice,
            settled_date=record.settled_date,
            amount=record.settled_amount,
        )
        for record, invoice in zip(records, invoices, strict=True)
        if record.settled_amount
    )
    return {settlement.invoice_id: settlement for settlement in settlements}


def _postings(records, invoices, settlements) -> list[Posting]:
    postings = []
    for record, invoice in zip(records, invoices, strict=True):
        postings.append(invoice_debit(invoice))
        settlement = settlements.get(invoice.pk)
        if settlement is not None:
            postings.append(
                Posting(
                    customer_id=invoice.customer_id,
                    invoice_id=invoice.pk,
                    kind=LedgerEntry.Kind.IMPORTED_SETTLEMENT,
                    amount=-settlement.amount,
                    currency=invoice.currency,
                    posting_date=settlement.settled_date,
                    document_type="invoicing.importedsettlement",
                    document_id=settlement.pk,
                    memo=f"Settlement of {record.number} (imported history)",
                )
            )
    return postings


def _audit_imported(objects, *, actor: Actor, job: Job, lines: list[int]) -> None:
    """One audit event per row, written in bulk (the rows are written in bulk)."""
    organization = current_organization()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            organization=organization,
            actor_user=actor.user,
            actor_label=actor.label,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            action="imported",
            to_status=getattr(obj, "status", ""),
            data={"job": job.pk, "file": job.input_name, "line": line},
        )
        for obj, line in zip(objects, lines, strict=True)
    )
