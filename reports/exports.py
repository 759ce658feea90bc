"""What an export contains and how it is written: CSV and XLSX in chunks, PDF.

An :class:`ExportSpec` names the report and its parameters (JSON, so it travels in
``Job.parameters``). Rows come from the database ``CHUNK_SIZE`` at a time — a
server-side cursor or ``QuerySet.iterator`` — and each chunk is written straight
to the file: CSV by the csv module, chunk by chunk (a pandas frame per chunk cost
more than the query), XLSX as a pandas frame through openpyxl's write-only
workbook, which streams rows to disk. Memory therefore depends on the chunk size,
not on the number of rows.

Amounts are written as numbers at their currency's minor unit with the
currency in its own column; dates as dates. An XLSX file opens on a title row
(organization, report, as-of date) and a frozen header, formats amounts at their
currency's minor units and dates as dates, and ends with a totals row per currency.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from django.db.models import F
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from invoicing.models import Invoice
from o2c.errors import DomainError, ForeignObject
from o2c.money import minor_units, quantum, validate_currency
from o2c.tenancy import current_organization
from orders.models import Customer
from reports.selectors.aging import (
    GROUPINGS,
    AgingFilters,
    aging_invoices,
    aging_lines_iter,
    default_boundaries,
    make_buckets,
    parse_boundaries,
    resolve_as_of,
)
from reports.selectors.common import DaysBetween, exact
from reports.selectors.history import customer_invoice_history

CHUNK_SIZE = 2000
KINDS = {
    "aging": "Aging",
    "aging_invoices": "Aging invoices",
    "invoices": "Invoices",
    "customer_history": "Customer history",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX, "pdf": "application/pdf"}
PDF_KINDS = {"aging"}
INVOICE_STATUSES = {"outstanding", *Invoice.Status.values}
NO_COLLECTOR = "none"  # filter value: customers without a collector
NO_SEGMENT = "(none)"  # filter value: customers without a segment


@dataclass(frozen=True)
class ExportSpec:
    kind: str
    format: str
    parameters: dict = field(default_factory=dict)

    @property
    def job_kind(self) -> str:
        return f"export_{self.kind}"

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]

    def filename(self, today: date) -> str:
        subject = self.kind.replace("_", "-")
        as_of = self.parameters.get("as_of") or today.isoformat()
        return f"{subject}-{as_of}.{self.format}"


def export_spec(kind: str, fmt: str, raw: dict) -> ExportSpec:
    """Check an export request and keep its parameters in canonical form."""
    if kind not in KINDS:
        raise DomainError(
            "invalid_choice", f"Export one of {', '.join(KINDS)}.", field="kind"
        )
    if fmt not in FORMATS or (fmt == "pdf" and kind not in PDF_KINDS):
        allowed = "csv, xlsx or pdf" if kind in PDF_KINDS else "csv or xlsx"
        raise DomainError(
            "invalid_choice", f"{KINDS[kind]} exports as {allowed}.", field="format"
        )
    parameters: dict = {}
    if kind in ("aging", "aging_invoices"):
        as_of, _ = resolve_as_of(_date(raw.get("as_of"), "as_of"))
        parameters["as_of"] = as_of.isoformat()
        parameters["buckets"] = (
            parse_boundaries(raw["buckets"])
            if raw.get("buckets")
            else default_boundaries()
        )
        parameters |= _aging_filters(raw)
    if kind == "aging":
        group_by = raw.get("group_by") or "customer"
        if group_by not in GROUPINGS:
            raise DomainError(
                "invalid_choice",
                f"Group by one of {', '.join(GROUPINGS)}.",
                field="group_by",
            )
        parameters["group_by"] = group_by
        # CSV and XLSX rows keep their own currency; the PDF may convert.
        parameters["in_base"] = raw.get("in_base") in (True, "on", "true", "1")
    if kind == "aging_invoices" and raw.get("bucket") not in (None, ""):
        bucket = _int(raw.get("bucket"), "bucket")
        if not 0 <= bucket <= len(parameters["buckets"]) + 1:
            raise DomainError("invalid_choice", "No such bucket.", field="bucket")
        parameters["bucket"] = bucket
    if kind == "invoices":
        status = raw.get("status") or ""
        if status and status not in INVOICE_STATUSES:
            raise DomainError("invalid_choice", "Unknown status.", field="status")
        parameters["status"] = status
        parameters["currency"] = _currency(raw.get("currency"))
        for name in ("date_from", "date_to"):
            value = _date(raw.get(name), name)
            parameters[name] = value.isoformat() if value else ""
        if raw.get("customer"):
            parameters["customer"] = _customer(raw.get("customer")).pk
    if kind == "customer_history":
        parameters["customer"] = _customer(raw.get("customer")).pk
    return ExportSpec(kind=kind, format=fmt, parameters=parameters)


def _aging_filters(raw: dict) -> dict:
    result: dict = {"currency": _currency(raw.get("currency"))}
    collector = raw.get("collector")
    if collector == NO_COLLECTOR:
        result["collector"] = NO_COLLECTOR
    elif collector not in (None, ""):
        result["collector"] = _int(collector, "collector")
    segment = raw.get("segment")
    if segment == NO_SEGMENT:
        result["segment"] = ""
    elif segment:
        result["segment"] = str(segment)[:50]
    if raw.get("customer"):
        result["customer"] = _customer(raw.get("customer")).pk
    return result


def aging_filters(parameters: dict) -> AgingFilters:
    collector = parameters.get("collector")
    return AgingFilters(
        customer_id=parameters.get("customer"),
        collector_id=collector if isinstance(collector, int) else None,
        unassigned_only=collector == NO_COLLECTOR,
        segment=parameters.get("segment"),
        currency=parameters.get("currency") or "",
    )


def _date(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DomainError(
            "invalid_date", f"'{value}' is not a date (YYYY-MM-DD).", field=name
        ) from None


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DomainError(
            "invalid", f"'{value}' is not a whole number.", field=name
        ) from None


def _currency(value) -> str:
    return validate_currency(value) if value else ""


def _customer(value) -> Customer:
    customer = Customer.objects.filter(pk=_int(value, "customer")).first()
    if customer is None:
        raise ForeignObject("not_found", f"No customer with id {value}.", "customer")
    return customer


# --- rows ----------------------------------------------------------------------


def columns(spec: ExportSpec) -> list[str]:
    if spec.kind == "aging":
        labels = [
            str(bucket.label) for bucket in make_buckets(spec.parameters["buckets"])
        ]
        group = "Customer" if spec.parameters["group_by"] == "customer" else "Group"
        return [
            group,
            "Customer number",
            "Currency",
            *labels,
            "Total open",
            "Overdue",
            "Unapplied cash",
            "Net balance",
        ]
    if spec.kind == "aging_invoices":
        return [
            "Invoice",
            "Customer number",
            "Customer",
            "Currency",
            "Invoice date",
            "Due date",
            "Days past due",
            "Bucket",
            "Open amount",
            "Invoice total",
        ]
    return [
        "Invoice",
        "Customer number",
        "Customer",
        "Status",
        "Currency",
        "Invoice date",
        "Due date",
        "Total",
        "Open amount",
        "Settled date",
        "Days to pay",
        "Days beyond terms",
    ]


def row_count(spec: ExportSpec) -> int:
    """How many rows the export will have (an upper bound for the aging)."""
    if spec.kind == "aging":
        if spec.parameters["group_by"] == "customer":
            return Customer.objects.count()
        return 0  # a few dozen collectors, segments or currencies
    return _invoices(spec).count()


def chunks(spec: ExportSpec, size: int | None = None) -> Iterator[list[tuple]]:
    size = size or CHUNK_SIZE
    if spec.kind == "aging":
        yield from _aging_chunks(spec, size)
        return
    if spec.kind == "aging_invoices":
        yield from _aging_invoice_chunks(spec, size)
        return
    fields = (
        "number",
        "customer__number",
        "customer__name",
        "status",
        "currency",
        "invoice_date",
        "due_date",
        "total",
        "open_amount",
        "settled_date",
        "days_to_pay",
        "days_late",
    )
    yield from _batched(_invoices(spec).values_list(*fields).iterator(size), size)


def _aging_chunks(spec: ExportSpec, size: int) -> Iterator[list[tuple]]:
    p = spec.parameters
    for lines in aging_lines_iter(
        as_of=date.fromisoformat(p["as_of"]),
        boundaries=p["buckets"],
        group_by=p["group_by"],
        filters=aging_filters(p),
        chunk_size=size,
    ):
        yield [
            (
                str(line.label),
                line.number,
                line.currency,
                *line.buckets,
                line.total,
                line.overdue,
                line.unapplied,
                line.net,
            )
            for line in lines
        ]


def _aging_invoice_chunks(spec: ExportSpec, size: int) -> Iterator[list[tuple]]:
    p = spec.parameters
    as_of = date.fromisoformat(p["as_of"])
    buckets = make_buckets(p["buckets"])
    bucket = buckets[p["bucket"]] if p.get("bucket") is not None else None
    invoices = aging_invoices(
        as_of=as_of, bucket=bucket, filters=aging_filters(p)
    ).values_list(
        "number",
        "customer__number",
        "customer__name",
        "currency",
        "invoice_date",
        "due_date",
        "open_as_of",
        "total",
    )
    # Per row only arithmetic and dictionary look-ups: a bucket's label is
    # translated once, an amount rounded with its currency's quantum found once.
    labels = [str(each.label) for each in buckets]
    amount = _Amounts()
    as_of_ordinal = as_of.toordinal()
    for rows in _batched(invoices.iterator(size), size):
        chunk = []
        for number, c_number, c_name, currency, i_date, due, open_, total in rows:
            days = as_of_ordinal - due.toordinal()
            chunk.append(
                (
                    number,
                    c_number,
                    c_name,
                    currency,
                    i_date,
                    due,
                    max(days, 0),
                    labels[_bucket_of(buckets, days).index],
                    amount(open_, currency),
                    amount(total, currency),
                )
            )
        yield chunk


class _Amounts:
    """``exact(value, currency)`` for many rows: the quantum of each currency is
    looked up once (the same half-up rounding, never "-0.00")."""

    def __init__(self):
        self._quanta: dict[str, Decimal] = {}

    def __call__(self, value, currency: str) -> Decimal:
        quantum_ = self._quanta.get(currency)
        if quantum_ is None:
            quantum_ = self._quanta[currency] = quantum(currency)
        if value is None:
            return quantum_ * 0
        if not isinstance(value, Decimal):
            return exact(value, currency)
        amount = value.quantize(quantum_, rounding=ROUND_HALF_UP)
        return amount if amount else abs(amount)


def _bucket_of(buckets, days_past_due: int):
    for bucket in buckets[1:]:
        if bucket.min_days <= days_past_due and (
            bucket.max_days is None or days_past_due <= bucket.max_days
        ):
            return bucket
    return buckets[0]


def _invoices(spec: ExportSpec):
    p = spec.parameters
    if spec.kind == "aging_invoices":
        bucket = None
        if p.get("bucket") is not None:
            bucket = make_buckets(p["buckets"])[p["bucket"]]
        return aging_invoices(
            as_of=date.fromisoformat(p["as_of"]),
            bucket=bucket,
            filters=aging_filters(p),
        )
    if spec.kind == "customer_history":
        return customer_invoice_history(customer=Customer.objects.get(pk=p["customer"]))
    invoices = Invoice.objects.exclude(status=Invoice.Status.DRAFT).annotate(
        days_to_pay=DaysBetween(F("settled_date"), F("invoice_date")),
        days_late=DaysBetween(F("settled_date"), F("due_date")),
    )
    if p.get("status") == "outstanding":
        invoices = invoices.filter(
            status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
        )
    elif p.get("status"):
        invoices = invoices.filter(status=p["status"])
    if p.get("currency"):
        invoices = invoices.filter(currency=p["currency"])
    if p.get("customer"):
        invoices = invoices.filter(customer_id=p["customer"])
    if p.get("date_from"):
        invoices = invoices.filter(invoice_date__gte=p["date_from"])
    if p.get("date_to"):
        invoices = invoices.filter(invoice_date__lte=p["date_to"])
    return invoices.order_by("invoice_date", "id")


def _batched(rows, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- files -----------------------------------------------------------------------

Progress = Callable[[int], None]


def write_table(
    spec: ExportSpec, stream, *, progress: Progress = lambda rows: None
) -> int:
    """Write the export's rows as CSV or XLSX to the binary ``stream``; returns the
    number of rows. ``progress`` is called after each chunk with the rows done."""
    header = columns(spec)
    done = 0
    if spec.format == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        # Excel opens a BOM-marked UTF-8 file with the right accents. The csv
        # module writes a chunk's tuples as they are (an amount as its Decimal,
        # a date as ISO, None as an empty field) without building a frame.
        # A chunk is formatted in memory and handed to the file in one write.
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for chunk in chunks(spec):
            writer.writerows(chunk)
            text.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
            done += len(chunk)
            progress(done)
        text.write(buffer.getvalue())
        text.flush()
        text.detach()
        return done
    return _write_xlsx(spec, header, stream, progress)


DATE_FORMAT = "yyyy-mm-dd"
DATE_COLUMNS = {"Invoice date", "Due date", "Settled date"}
TITLE_ROWS = 2  # the title, then the header (frozen with it)


def amount_columns(spec: ExportSpec, header: list[str]) -> list[int]:
    """Indexes of the columns holding money, in the row's currency."""
    if spec.kind == "aging":
        return list(range(header.index("Currency") + 1, len(header)))
    names = {"Open amount", "Invoice total", "Total"}
    return [index for index, name in enumerate(header) if name in names]


def amount_format(currency: str) -> str:
    """Thousands separated, at the currency's minor units (JPY 0, KWD 3)."""
    units = minor_units(currency) if currency else 2
    return "#,##0." + "0" * units if units else "#,##0"


def _write_xlsx(spec: ExportSpec, header: list[str], stream, progress) -> int:
    """A title row (organization, report, as-of date), the header frozen under it,
    the rows with number and date formats, then a totals row per currency."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(KINDS[spec.kind][:31])
    sheet.freeze_panes = f"A{TITLE_ROWS + 1}"
    organization = current_organization()
    as_of = date.fromisoformat(
        spec.parameters.get("as_of") or organization.today().isoformat()
    )
    title = WriteOnlyCell(sheet, value=f"{organization.name} · {KINDS[spec.kind]}")
    title.font = Font(bold=True, size=13)
    as_of_cell = WriteOnlyCell(sheet, value=as_of)
    as_of_cell.number_format = DATE_FORMAT
    sheet.append([title, "As of", as_of_cell])
    sheet.append([_bold(sheet, name) for name in header])
    currency_at = header.index("Currency")
    amounts = amount_columns(spec, header)
    dates = {index for index, name in enumerate(header) if name in DATE_COLUMNS}
    totals: dict[str, list[Decimal]] = {}
    done = 0
    for chunk in chunks(spec):
        frame = _frame(chunk, header)
        for row in frame.itertuples(index=False, name=None):
            currency = row[currency_at] or ""
            sums = totals.setdefault(currency, [Decimal(0)] * len(amounts))
            cells = []
            for index, value in enumerate(row):
                value = None if _missing(value) else value
                cell = WriteOnlyCell(sheet, value=value)
                if index in dates:
                    cell.number_format = DATE_FORMAT
                elif index in amounts:
                    cell.number_format = amount_format(currency)
                    sums[amounts.index(index)] += value or 0
                cells.append(cell)
            sheet.append(cells)
        done += len(chunk)
        progress(done)
    for currency, sums in sorted(totals.items()):
        row = [None] * len(header)
        row[0] = _bold(sheet, "Total")
        row[currency_at] = _bold(sheet, currency)
        for index, amount in zip(amounts, sums, strict=True):
            cell = _bold(sheet, amount)
            cell.number_format = amount_format(currency)
            row[index] = cell
        sheet.append(row)
    workbook.save(stream)
    return done


def _bold(sheet, value) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.font = Font(bold=True)
    return cell


def _frame(chunk: list[tuple], header: list[str]) -> pd.DataFrame:
    # Object columns keep Decimal amounts and dates exactly as they are.
    return pd.DataFrame.from_records(chunk, columns=header, coerce_float=False).astype(
        object
    )


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
