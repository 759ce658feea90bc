"""Reading CSV and XLSX files into rows of strings, and parsing their cells.

Everything is read as text (``dtype=str``, ``keep_default_na=False``): an amount
never passes through a float, "NA" stays a customer called NA, and a blank cell is
"". Line numbers are counted as a spreadsheet user counts them: the header is line
1 and the first data row line 2, blank rows included (they are skipped, but still
counted).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import pandas as pd

from invoicing.imports.columns import COLUMNS, Column, lookup_table, normalise_header
from o2c.errors import DomainError
from o2c.money import exact_amount

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls

# Accepted ``date_format`` values (the same codes as Organization.date_format).
DATE_FORMATS = {
    "Y-m-d": ("%Y-%m-%d", "YYYY-MM-DD"),
    "d.m.Y": ("%d.%m.%Y", "DD.MM.YYYY"),
    "d/m/Y": ("%d/%m/%Y", "DD/MM/YYYY"),
    "m/d/Y": ("%m/%d/%Y", "MM/DD/YYYY"),
}
ISO = "Y-m-d"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What pandas makes of an XLSX date cell read as text.
_SPREADSHEET_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00$")

TRUE_WORDS = {"1", "true", "yes", "y", "x", "disputed", "ja", "oui", "si"}
FALSE_WORDS = {"", "0", "false", "no", "n", "nein", "non"}


@dataclass(frozen=True)
class RowError:
    """One problem, where a spreadsheet user finds it (line 1 is the header).

    ``source`` names the file or sheet when an import reads more than one.
    """

    line: int | None
    column: str
    message: str
    source: str = ""

    def as_dict(self) -> dict:
        error = {"line": self.line, "column": self.column, "message": self.message}
        return error | ({"source": self.source} if self.source else {})

    def __str__(self) -> str:
        where = [self.source] if self.source else []
        if self.line:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f'column "{self.column}"')
        return f"{', '.join(where)}: {self.message}" if where else self.message


class CellError(Exception):
    """A cell's value is wrong; the caller knows the line and column."""


@dataclass
class Row:
    line: int
    values: dict[str, str]

    def get(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass
class Table:
    """The rows of one file (or sheet), keyed by our column names."""

    kind: str
    source_name: str
    headers: dict[str, str] = field(default_factory=dict)  # ours → as in the file
    error_source: str = ""  # set when errors must say which file or sheet
    rows: list[Row] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        """The column as the user named it, for error messages."""
        return self.headers.get(name, name)


def read_tables(
    content: bytes, *, filename: str, kind: str
) -> tuple[dict[str, Table], list[RowError]]:
    """Read ``kind``'s table from a CSV or an XLSX workbook.

    A workbook holding both an "Invoices" and a "Customers" sheet is a file set:
    importing its invoices imports its customers first, in the same transaction.
    """
    if content.startswith(OLE_MAGIC):
        return {}, [_file_error("This is an old .xls workbook; save it as .xlsx.")]
    if content.startswith(XLSX_MAGIC):
        return _read_workbook(content, filename=filename, kind=kind)
    grid, error = _read_csv(content)
    if error:
        return {}, [error]
    table, errors = _table_from_grid(grid, kind=kind, source_name=filename)
    return ({kind: table} if table else {}), errors


def _read_csv(content: bytes) -> tuple[list[list[str]], RowError | None]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], _file_error(
            'The file is not UTF-8 text. In Excel choose "CSV UTF-8" when saving.'
        )
    first_line = text.split("\n", 1)[0]
    # A header names columns, so it has no decimal commas: count separators there.
    separator = max((",", ";", "\t"), key=first_line.count)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except pd.errors.EmptyDataError:
        return [], _file_error("The file is empty.")
    except (pd.errors.ParserError, csv.Error) as error:
        return [], _file_error(f"The file is not readable as CSV: {error}")
    return _text_grid(frame), None


def _text_grid(frame: pd.DataFrame) -> list[list[str]]:
    # Short rows are padded with NaN even with dtype=str; they are blank cells.
    return [
        ["" if isinstance(cell, float) or cell is None else str(cell) for cell in row]
        for row in frame.itertuples(index=False, name=None)
    ]


def _read_workbook(
    content: bytes, *, filename: str, kind: str
) -> tuple[dict[str, Table], list[RowError]]:
    try:
        sheets = pd.read_excel(
            io.BytesIO(content),
            sheet_name=None,
            header=None,
            dtype=str,
            keep_default_na=False,
            engine="openpyxl",
        )
    except Exception as error:  # openpyxl raises many types for a damaged file
        return {}, [_file_error(f"The workbook cannot be read: {error}")]
    if not sheets:
        return {}, [_file_error("The workbook has no sheets.")]
    by_name = {normalise_header(name): name for name in sheets}
    wanted = [kind] + (["customers"] if kind == "invoices" else [])
    tables, errors = {}, []
    for table_kind in wanted:
        sheet = by_name.get(table_kind)
        if sheet is None and table_kind == kind:
            sheet = next(iter(sheets))
        if sheet is None:
            continue
        table, table_errors = _table_from_grid(
            _text_grid(sheets[sheet]),
            kind=table_kind,
            source_name=f"{filename} [{sheet}]",
        )
        errors.extend(table_errors)
        if table:
            tables[table_kind] = table
    return tables, errors


def _table_from_grid(
    grid: list[list[str]], *, kind: str, source_name: str
) -> tuple[Table | None, list[RowError]]:
    if not grid or not any(cell.strip() for cell in grid[0]):
        return None, [_file_error(f"{source_name}: line 1 must name the columns.")]
    columns: tuple[Column, ...] = COLUMNS[kind]
    positions, headers, ignored, errors = _map_headers(
        grid[0], columns, source=source_name
    )
    if errors:
        return None, errors
    table = Table(kind=kind, source_name=source_name, headers=headers)
    table.ignored_columns = ignored
    for offset, cells in enumerate(grid[1:]):
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cells[index].strip() for name, index in positions.items()}
        table.rows.append(Row(line=offset + 2, values=values))
    return table, []


def _map_headers(header_cells: list[str], columns: tuple[Column, ...], *, source):
    """Which cell position holds which of our columns; errors for missing ones."""
    accepted = lookup_table(columns)
    rank = {
        normalise_header(header): rank
        for column in columns
        for rank, header in enumerate((column.name, *column.aliases))
    }
    positions, headers, ignored, errors = {}, {}, [], []
    seen_headers: dict[str, int] = {}
    for index, cell in enumerate(header_cells):
        header = normalise_header(cell)
        if not header:
            continue
        if header in seen_headers:
            errors.append(
                RowError(1, cell.strip(), "This column appears twice.", source)
            )
            continue
        seen_headers[header] = index
        name = accepted.get(header)
        if name is None:
            ignored.append(cell.strip())
            continue
        previous = positions.get(name)
        if previous is not None:
            # Two names for one column ("Date" and "Invoice date"): the closer
            # name wins, the other is ignored, never silently merged.
            previous_header = normalise_header(header_cells[previous])
            if rank[header] < rank[previous_header]:
                ignored.append(header_cells[previous].strip())
            else:
                ignored.append(cell.strip())
                continue
        positions[name] = index
        headers[name] = cell.strip()
    for column in columns:
        if column.required and column.name not in positions:
            also = ", ".join(column.aliases[:4])
            errors.append(
                RowError(
                    1,
                    column.name,
                    f'Required column "{column.name}" is missing'
                    + (f" (also accepted: {also}, …)." if also else "."),
                    source,
                )
            )
    return positions, headers, ignored, errors


def _file_error(message: str) -> RowError:
    return RowError(None, "", message)


# --- cells -------------------------------------------------------------------------


def parse_date(raw: str, date_format: str = ISO) -> date:
    """A date in ISO form, or in ``date_format`` when one was chosen explicitly."""
    value = raw.strip()
    spreadsheet = _SPREADSHEET_DATE.match(value)
    if spreadsheet:
        value = spreadsheet.group(1)
    if _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CellError(f'"{raw}" is not a valid date.') from None
    pattern, label = DATE_FORMATS[date_format]
    if date_format != ISO:
        try:
            return datetime.strptime(value, pattern).date()  # noqa: DTZ007 (a date)
        except ValueError:
            pass
    hint = ""
    if date_format == ISO and re.match(r"^\d{1,2}[./]\d{1,2}[./]\d{4}$", value):
        hint = " Choose the matching date format when uploading to accept it."
    raise CellError(f'"{raw}" is not a date in {label} form.{hint}')


def parse_amount(raw: str, currency: str) -> Decimal:
    """An amount exact in ``currency``'s minor unit: "12.50", never "12,50"."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise CellError(f'"{raw}" is not a number.') from None
    if not value.is_finite():
        raise CellError(f'"{raw}" is not a number.')
    try:
        return exact_amount(value, currency)
    except DomainError as error:
        raise CellError(error.message) from None


def parse_flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise CellError(f'"{raw}" is not yes or no.')


def iter_chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
