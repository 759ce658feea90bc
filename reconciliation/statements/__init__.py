"""Bank-statement readers, one module per format; see :mod:`.base` for what each
produces.

:func:`parse_statement` is the one entry point: it refuses files over the size
limit, finds the format from the content (or takes the one it is given), reads
the file, and checks every statement's balances (opening + entries = closing).
Any problem raises :class:`StatementError` naming the line or XML path, and
nothing is returned, so an import is all-or-nothing.
"""

from __future__ import annotations

import re

from django.conf import settings

from . import bai2, camt, mt940, tabular
from .base import ParsedEntry, ParsedStatement, StatementError
from .tabular import ColumnMapping

__all__ = [
    "FORMATS",
    "ColumnMapping",
    "ParsedEntry",
    "ParsedStatement",
    "StatementError",
    "detect_format",
    "max_bytes",
    "parse_statement",
]

FORMATS = ("camt", "mt940", "bai2", "csv", "xlsx")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_MT940_FIELDS = re.compile(rb"(?m)^\s*:(20|60F|60M|61):")
_BAI2_HEADER = re.compile(rb"^01,")
_EXTENSIONS = {
    ".xml": "camt",
    ".sta": "mt940",
    ".mt940": "mt940",
    ".940": "mt940",
    ".bai": "bai2",
    ".bai2": "bai2",
    ".csv": "csv",
    ".xlsx": "xlsx",
}


def max_bytes() -> int:
    """The size limit of one statement file (setting ``STATEMENT_MAX_BYTES``)."""
    return int(getattr(settings, "STATEMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def detect_format(data: bytes, filename: str = "") -> str:
    """The format of a statement file, from its content first, else its name."""
    head = data[:65536].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"<"):
        return "camt"
    if _BAI2_HEADER.match(head):
        return "bai2"
    if head.startswith(b"{1:") or len(set(_MT940_FIELDS.findall(head))) >= 2:
        return "mt940"
    name = filename.lower()
    for extension, file_format in _EXTENSIONS.items():
        if name.endswith(extension):
            return file_format
    if b"," in head or b";" in head or b"\t" in head:
        return "csv"
    raise StatementError(
        "The file is not a statement format O2C reads (camt.053/054 XML, MT940, "
        "BAI2, CSV or XLSX)."
    )


def parse_statement(
    data: bytes,
    *,
    filename: str = "",
    file_format: str | None = None,
    mapping: ColumnMapping | None = None,
) -> list[ParsedStatement]:
    """Read a statement file into statements whose balances add up."""
    limit = max_bytes()
    if len(data) > limit:
        raise StatementError(
            f"The file is {len(data):,} bytes ({_size_in_words(len(data))}); "
            f"statement files are limited to {_size_in_words(limit)} "
            f"({limit:,} bytes)."
        )
    if not data.strip():
        raise StatementError("The file is empty.")
    file_format = file_format or detect_format(data, filename)
    if file_format not in FORMATS:
        raise StatementError(
            f"Unknown statement format '{file_format}' (one of {', '.join(FORMATS)})."
        )
    statements = _read(data, file_format, mapping)
    if not statements:
        raise StatementError("The file holds no statement.")
    for statement in statements:
        statement.check_balances()
    return statements


def _read(
    data: bytes, file_format: str, mapping: ColumnMapping | None
) -> list[ParsedStatement]:
    if file_format == "camt":
        return camt.parse(data)
    if file_format == "mt940":
        return mt940.parse(data)
    if file_format == "bai2":
        return bai2.parse(data)
    if mapping is None:
        raise StatementError(
            f"A {file_format.upper()} statement needs the bank account's column "
            "mapping."
        )
    if file_format == "csv":
        return tabular.parse_csv(data, mapping)
    return tabular.parse_xlsx(data, mapping)


def _size_in_words(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size / 1024:.1f} KB".replace(".0 KB", " KB")
    return f"{size} bytes"
