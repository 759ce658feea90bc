"""CSV and XLSX statements, read through a :class:`ColumnMapping`.

Banks' spreadsheet exports have no standard layout, so each bank account keeps a
mapping (stored as JSON through :meth:`ColumnMapping.to_dict`) that names the
columns: booking date and its format, one signed amount column or a debit and a
credit column, decimal comma and thousands separator, payer, references,
currency. Rows are numbered as the file's lines (CSV) or the sheet's rows (XLSX),
so an error points at what a person sees in a spreadsheet.

A row without a bank reference column gets a reference derived from its content
(a digest of its cells), so the same row exported twice is recognised as the
same line, while two identical rows in one file stay two lines.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from .base import ParsedEntry, ParsedStatement, StatementError

_DELIMITERS = ",;\t|"


@dataclass
class ColumnMapping:
    """Where a bank's CSV/XLSX export keeps each part of a statement line.

    Column names are the header cells' text. ``header_row`` is the 1-based row
    of the header (rows above it, such as a bank's title lines, are skipped).
    ``delimiter`` "" means: detect it with :class:`csv.Sniffer`.
    """

    date_column: str
    date_format: str = "%Y-%m-%d"
    amount_column: str = ""
    debit_column: str = ""
    credit_column: str = ""
    decimal_separator: str = "."
    thousands_separator: str = ""
    currency: str = ""
    currency_column: str = ""
    value_date_column: str = ""
    payer_name_column: str = ""
    payer_account_column: str = ""
    reference_columns: list[str] = field(default_factory=list)
    bank_reference_column: str = ""
    account: str = ""
    header_row: int = 1
    delimiter: str = ""
    encoding: str = "utf-8-sig"
    sheet: str = ""

    def __post_init__(self) -> None:
        if not self.date_column:
            raise StatementError("The column mapping names no date column.")
        if bool(self.amount_column) == bool(self.debit_column or self.credit_column):
            raise StatementError(
                "The column mapping needs either an amount column or debit and "
                "credit columns, not both."
            )
        if not (self.currency or self.currency_column):
            raise StatementError(
                "The column mapping needs a currency or a currency column."
            )
        if self.decimal_separator not in (".", ","):
            raise StatementError("The decimal separator is '.' or ','.")
        if self.thousands_separator == self.decimal_separator:
            raise StatementError(
                "The thousands separator cannot be the decimal separator."
            )
        if self.header_row < 1:
            raise StatementError("The header row is 1 or more.")
        if isinstance(self.reference_columns, str):
            self.reference_columns = [self.reference_columns]
        self.currency = self.currency.upper()

    @classmethod
    def from_dict(cls, data: dict) -> ColumnMapping:
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StatementError(
                f"Unknown column-mapping settings: {', '.join(unknown)}."
            )
        try:
            return cls(**data)
        except TypeError as error:
            raise StatementError(f"Incomplete column mapping: {error}.") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def columns(self) -> list[str]:
        named = [
            self.date_column,
            self.amount_column,
            self.debit_column,
            self.credit_column,
            self.currency_column,
            self.value_date_column,
            self.payer_name_column,
            self.payer_account_column,
            self.bank_reference_column,
            *self.reference_columns,
        ]
        return [column for column in named if column]


def parse_csv(data: bytes, mapping: ColumnMapping) -> list[ParsedStatement]:
    try:
        text = data.decode(mapping.encoding)
    except (UnicodeDecodeError, LookupError):
        raise StatementError(
            f"The file is not in the mapping's encoding ({mapping.encoding})."
        ) from None
    lines = text.splitlines(keepends=True)
    if len(lines) < mapping.header_row:
        raise StatementError(
            f"The file has {len(lines)} lines; the header should be on line "
            f"{mapping.header_row}."
        )
    body = "".join(lines[mapping.header_row - 1 :])
    reader = csv.reader(io.StringIO(body), delimiter=_delimiter(body, mapping))
    offset = mapping.header_row - 1

    def rows():
        for cells in reader:
            yield offset + reader.line_num, cells

    return _read(rows(), mapping)


def _delimiter(body: str, mapping: ColumnMapping) -> str:
    if mapping.delimiter:
        return mapping.delimiter
    sample = "".join(body.splitlines(keepends=True)[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        # One column, or a sample the sniffer cannot decide: the header tells.
        header = sample.splitlines()[0] if sample else ""
        return max(_DELIMITERS, key=header.count)


def parse_xlsx(data: bytes, mapping: ColumnMapping) -> list[ParsedStatement]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file
        raise StatementError(
            f"The file is not a readable XLSX workbook: {error}"
        ) from None
    try:
        if mapping.sheet and mapping.sheet not in workbook.sheetnames:
            raise StatementError(
                f"The workbook has no sheet '{mapping.sheet}' (it has "
                f"{', '.join(workbook.sheetnames)})."
            )
        sheet = workbook[mapping.sheet] if mapping.sheet else workbook.worksheets[0]
        rows = (
            (number, list(cells))
            for number, cells in enumerate(sheet.iter_rows(values_only=True), 1)
            if number >= mapping.header_row
        )
        return _read(rows, mapping)
    finally:
        workbook.close()


def _read(rows, mapping: ColumnMapping) -> list[ParsedStatement]:
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise StatementError("The file has no header row.") from None
    names = [_cell_text(cell) for cell in header]
    missing = [column for column in mapping.columns() if column not in names]
    if missing:
        raise StatementError(
            f"The file has no column {', '.join(repr(c) for c in missing)} (its "
            f"columns are {', '.join(repr(n) for n in names if n)}).",
            location=f"line {header_line}",
        )
    index = {name: names.index(name) for name in mapping.columns()}
    statements: dict[str, ParsedStatement] = {}
    seen: dict[str, int] = {}
    for line, cells in rows:
        if all(_cell_text(cell) == "" for cell in cells):
            continue
        row = _Row(cells, index, line)
        entry = _entry(row, mapping, seen)
        statement = statements.setdefault(
            entry.currency,
            ParsedStatement(account=mapping.account, currency=entry.currency),
        )
        statement.entries.append(entry)
    for statement in statements.values():
        dates = [entry.booking_date for entry in statement.entries]
        statement.opening_date, statement.closing_date = min(dates), max(dates)
    return list(statements.values())


class _Row:
    def __init__(self, cells: list, index: dict[str, int], line: int):
        self.cells, self.index, self.line = cells, index, line

    def raw(self, column: str):
        position = self.index[column]
        return self.cells[position] if position < len(self.cells) else None

    def text(self, column: str) -> str:
        return _cell_text(self.raw(column)) if column else ""

    def error(self, column: str, message: str) -> StatementError:
        return StatementError(message, location=f"line {self.line}, column {column!r}")


def _cell_text(cell) -> str:
    if cell is None:
        return ""
    return " ".join(str(cell).split())


def _entry(row: _Row, mapping: ColumnMapping, seen: dict[str, int]) -> ParsedEntry:
    if mapping.amount_column:
        amount = _amount(row, mapping.amount_column, mapping)
        if amount is None:
            raise row.error(mapping.amount_column, "The amount is empty.")
    else:
        credit = _amount(row, mapping.credit_column, mapping) or Decimal(0)
        debit = _amount(row, mapping.debit_column, mapping) or Decimal(0)
        # Some banks write debits as positive numbers, some as negative ones.
        amount = abs(credit) - abs(debit)
    currency = (row.text(mapping.currency_column) or mapping.currency).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise row.error(
            mapping.currency_column, f"'{currency}' is not a currency code."
        )
    booking_date = _date(row, mapping.date_column, mapping)
    if booking_date is None:
        raise row.error(mapping.date_column, "The date is empty.")
    remittance = " ".join(
        text for text in (row.text(c) for c in mapping.reference_columns) if text
    )
    bank_reference = row.text(mapping.bank_reference_column)
    if not bank_reference:
        digest = hashlib.sha256(
            "\x1f".join(_cell_text(cell) for cell in row.cells).encode()
        ).hexdigest()[:16]
        seen[digest] = seen.get(digest, 0) + 1
        count = seen[digest]
        bank_reference = f"row-{digest}" + (f"-{count}" if count > 1 else "")
    return ParsedEntry(
        booking_date=booking_date,
        value_date=_date(row, mapping.value_date_column, mapping),
        amount=amount,
        currency=currency,
        bank_reference=bank_reference,
        remittance=remittance,
        payer_name=row.text(mapping.payer_name_column),
        payer_account=row.text(mapping.payer_account_column).replace(" ", ""),
        location=f"line {row.line}",
    )


def _amount(row: _Row, column: str, mapping: ColumnMapping) -> Decimal | None:
    raw = row.raw(column)
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        # Excel stores floats; their shortest repr is the number as typed.
        return Decimal(str(raw))
    text = _cell_text(raw).replace(" ", "").replace("\u00a0", "")
    if not text:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text.endswith("-"):
        negative, text = True, text[:-1]
    if mapping.thousands_separator:
        text = text.replace(mapping.thousands_separator, "")
    if mapping.decimal_separator == ",":
        text = text.replace(",", ".")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        raise row.error(column, f"'{_cell_text(raw)}' is not an amount.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise row.error(column, f"'{_cell_text(raw)}' is not an amount.") from None
    return -value if negative else value


def _date(row: _Row, column: str, mapping: ColumnMapping) -> date | None:
    if not column:
        return None
    raw = row.raw(column)
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = _cell_text(raw)
    if not text:
        return None
    try:
        # A calendar date, read without a time zone on purpose.
        return datetime.strptime(text, mapping.date_format).date()  # noqa: DTZ007
    except ValueError:
        raise row.error(
            column, f"'{text}' is not a date in the format {mapping.date_format}."
        ) from None
