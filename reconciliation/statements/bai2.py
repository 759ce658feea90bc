"""BAI2 (Cash Management Balance Reporting Specification, version 2) reader.

Written here rather than on the ``bai2`` package, which fails with a bare
``ValueError`` on several records in one physical line (allowed by the
specification), and whose integrity errors ("expected 4, found 3") name no line.

Records 01 (file header), 02 (group header), 03 (account identifier and
summary/status), 16 (transaction detail), 49 (account trailer), 98 (group
trailer), 99 (file trailer) and 88 (continuation of the record before it). A
record ends with ``/``, except that the text field of a 16 record runs to the end
of its line. Amounts are in minor units of the account's currency (03, else 02,
else USD as the specification says). Detail type codes 100-399 are credits,
400-699 debits; 890 (information only) is skipped. The opening ledger balance
is status code 010 and the closing ledger balance 015 of the 03 record.

Every trailer is checked: the account control total (the 03 and 16 amounts) and
record count of each 49, the control total, account count and record count of
each 98, and those of the 99; a wrong one is refused naming its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from o2c.errors import DomainError
from o2c.money import minor_units

from .base import ParsedEntry, ParsedStatement, StatementError

_CODES = ("01", "02", "03", "16", "49", "88", "98", "99")
_RECORD_START = re.compile(r"/\s*(?=(?:01|02|03|16|49|88|98|99),)")
_INFORMATION_ONLY = 890
_OPENING_LEDGER = "010"
_CLOSING_LEDGER = "015"
_DEFAULT_CURRENCY = "USD"


@dataclass
class _Record:
    code: str
    line: int
    fields: list[str]
    text: str = ""  # the free-text tail of a 16 record, with its 88s
    physical: int = 1  # records it was built from (itself and its 88s)


@dataclass
class _Account:
    statement: ParsedStatement
    line: int
    control_total: int = 0
    records: int = 0


@dataclass
class _Group:
    line: int
    as_of: date
    currency: str
    accounts: list[_Account] = field(default_factory=list)
    records: int = 1


def parse(data: bytes) -> list[ParsedStatement]:
    """Read a BAI2 file; balances are not checked here, trailers are."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")
    return _Reader(_records(text)).read()


def _records(text: str) -> list[_Record]:
    """Logical records, each with the line it starts on; 88s folded in."""
    records: list[_Record] = []
    for number, physical in enumerate(text.splitlines(), 1):
        for raw in _split_line(physical.strip()):
            code, _, rest = raw.partition(",")
            if code not in _CODES:
                raise StatementError(
                    f"'{raw[:20]}' does not start with a BAI2 record code.",
                    location=f"line {number}",
                )
            if code == "88":
                if not records:
                    raise StatementError(
                        "A continuation record (88) opens the file.",
                        location=f"line {number}",
                    )
                _continue(records[-1], rest)
                continue
            records.append(_new_record(code, rest, number))
    return records


def _split_line(line: str) -> list[str]:
    if not line:
        return []
    pieces = _RECORD_START.split(line)
    # The split ate the "/" that ended every record but the last one.
    return [f"{piece}/" for piece in pieces[:-1]] + [pieces[-1]]


def _new_record(code: str, rest: str, line: int) -> _Record:
    if code == "16":
        return _Record(code=code, line=line, fields=_strip_end(rest).split(","))
    return _Record(code=code, line=line, fields=_fields(rest))


def _strip_end(rest: str) -> str:
    body = rest.rstrip()
    return body[:-1] if body.endswith("/") else body


def _fields(rest: str) -> list[str]:
    return [value.strip() for value in _strip_end(rest).split(",")]


def _continue(record: _Record, rest: str) -> None:
    record.physical += 1
    if record.code == "16":
        record.text = f"{record.text} {_strip_end(rest).strip()}".strip()
    else:
        record.fields.extend(_fields(rest))


class _Reader:
    def __init__(self, records: list[_Record]):
        self.records = records
        self.position = 0
        self.statement_ids: set[str] = set()

    def _next(self, *codes: str) -> _Record:
        if self.position >= len(self.records):
            raise StatementError(
                f"The file ends where a {' or '.join(codes)} record was expected.",
                location=f"line {self.records[-1].line if self.records else 1}",
            )
        record = self.records[self.position]
        if record.code not in codes:
            raise StatementError(
                f"Record {record.code} where {' or '.join(codes)} was expected.",
                location=f"line {record.line}",
            )
        self.position += 1
        return record

    def _peek(self) -> str:
        if self.position < len(self.records):
            return self.records[self.position].code
        return ""

    def read(self) -> list[ParsedStatement]:
        header = self._next("01")
        fields = header.fields + [""] * 8
        if fields[7] not in ("", "2"):
            raise StatementError(
                f"Version {fields[7]} is not BAI2.", location=f"line {header.line}"
            )
        file_id = fields[4]
        groups: list[_Group] = []
        while self._peek() == "02":
            groups.append(self._group(file_id))
        trailer = self._next("99")
        self._check(
            trailer,
            total=sum(account.control_total for g in groups for account in g.accounts),
            count=len(groups),
            count_name="groups",
            records=header.physical
            + trailer.physical
            + sum(group.records for group in groups),
        )
        if self.position < len(self.records):
            extra = self.records[self.position]
            raise StatementError(
                "Records follow the file trailer (99).",
                location=f"line {extra.line}",
            )
        return [account.statement for group in groups for account in group.accounts]

    def _group(self, file_id: str) -> _Group:
        header = self._next("02")
        fields = header.fields + [""] * 7
        group = _Group(
            line=header.line,
            as_of=_date(fields[3], header),
            currency=fields[5] or _DEFAULT_CURRENCY,
            records=header.physical,
        )
        while self._peek() == "03":
            group.accounts.append(self._account(group, file_id))
        trailer = self._next("98")
        group.records += trailer.physical + sum(a.records for a in group.accounts)
        self._check(
            trailer,
            total=sum(account.control_total for account in group.accounts),
            count=len(group.accounts),
            count_name="accounts",
            records=group.records,
        )
        return group

    def _account(self, group: _Group, file_id: str) -> _Account:
        header = self._next("03")
        fields = header.fields + [""] * 2
        currency = fields[1] or group.currency
        units = _minor_units(currency, header)
        statement_id = f"{file_id}/{group.as_of.isoformat()}/{fields[0]}"
        # An account reported twice in one file gets a numbered second report,
        # so that its lines' fallback references stay unique.
        repeat = 1
        while statement_id in self.statement_ids:
            repeat += 1
            statement_id = f"{file_id}/{group.as_of.isoformat()}/{fields[0]}#{repeat}"
        self.statement_ids.add(statement_id)
        statement = ParsedStatement(
            account=fields[0],
            currency=currency,
            statement_id=statement_id,
            opening_date=group.as_of,
            closing_date=group.as_of,
        )
        account = _Account(statement=statement, line=header.line)
        account.records = header.physical
        for type_code, amount in _summaries(fields[2:], header):
            account.control_total += amount
            if type_code == _OPENING_LEDGER:
                statement.opening_balance = _money(amount, units)
            elif type_code == _CLOSING_LEDGER:
                statement.closing_balance = _money(amount, units)
        while self._peek() == "16":
            detail = self._next("16")
            account.records += detail.physical
            entry, amount = _detail(detail, statement, group, units)
            account.control_total += amount
            if entry is not None:
                statement.entries.append(entry)
        trailer = self._next("49")
        account.records += trailer.physical
        self._check(
            trailer,
            total=account.control_total,
            records=account.records,
        )
        return account

    def _check(
        self,
        trailer: _Record,
        *,
        total: int,
        records: int,
        count: int | None = None,
        count_name: str = "",
    ) -> None:
        where = f"line {trailer.line}"
        fields = [*trailer.fields, "", "", ""]
        stated_total = _integer(fields[0], trailer, "control total")
        if stated_total != total:
            raise StatementError(
                f"The control total of record {trailer.code} is {stated_total}, "
                f"but the amounts it covers add up to {total}.",
                location=where,
            )
        if count is not None:
            stated_count = _integer(fields[1], trailer, f"number of {count_name}")
            if stated_count != count:
                raise StatementError(
                    f"Record {trailer.code} counts {stated_count} {count_name}, "
                    f"but there are {count}.",
                    location=where,
                )
        stated_records = _integer(
            fields[2] if count is not None else fields[1], trailer, "number of records"
        )
        if stated_records != records:
            raise StatementError(
                f"Record {trailer.code} counts {stated_records} records, but there "
                f"are {records}.",
                location=where,
            )


def _summaries(fields: list[str], record: _Record) -> list[tuple[str, int]]:
    """(type code, amount) of the summary and status items of a 03 record."""
    items = []
    position = 0
    while position < len(fields):
        type_code = fields[position]
        if not type_code:
            # A trailing comma before the "/".
            position += 1
            continue
        amount_text = fields[position + 1] if position + 1 < len(fields) else ""
        amount = _integer(amount_text, record, f"amount of {type_code}", blank=0)
        funds_type = fields[position + 3] if position + 3 < len(fields) else ""
        position += 4 + _funds_type_length(funds_type, fields, position + 4, record)
        items.append((type_code, amount))
    return items


def _funds_type_length(
    funds_type: str, fields: list[str], position: int, record: _Record
) -> int:
    """How many fields the availability of ``funds_type`` takes after it."""
    kind = funds_type.upper()
    if kind == "S":
        return 3  # immediate, one-day, two-or-more-day amounts
    if kind == "V":
        return 2  # value date and time
    if kind == "D":
        count = _integer(
            fields[position] if position < len(fields) else "", record, "distributions"
        )
        return 1 + 2 * count
    return 0


def _detail(
    record: _Record, statement: ParsedStatement, group: _Group, units: int
) -> tuple[ParsedEntry | None, int]:
    fields = record.fields
    if len(fields) < 3:
        raise StatementError(
            "A transaction detail (16) needs a type code, an amount and a funds type.",
            location=f"line {record.line}",
        )
    type_text, amount_text, funds_type = fields[0], fields[1], fields[2]
    if not type_text.isdigit():
        raise StatementError(
            f"'{type_text}' is not a BAI type code.", location=f"line {record.line}"
        )
    amount = _integer(amount_text, record, "amount", blank=0)
    if amount < 0:
        raise StatementError(
            f"A detail amount is unsigned; '{amount_text}' is not.",
            location=f"line {record.line}",
        )
    position = 3 + _funds_type_length(funds_type, fields, 3, record)
    value_date = None
    if funds_type.upper() == "V" and fields[3]:
        value_date = _date(fields[3], record)
    # The text is everything after bank and customer reference, commas and all.
    bank_reference = fields[position].strip() if position < len(fields) else ""
    customer_reference = (
        fields[position + 1].strip() if position + 1 < len(fields) else ""
    )
    text = ",".join(fields[position + 2 :])
    text = " ".join(f"{text} {record.text}".split())
    type_code = int(type_text)
    if type_code == _INFORMATION_ONLY:
        return None, amount
    if 100 <= type_code <= 399:
        sign = 1
    elif 400 <= type_code <= 699:
        sign = -1
    else:
        raise StatementError(
            f"Type code {type_text} is neither a credit (100-399) nor a debit "
            "(400-699).",
            location=f"line {record.line}",
        )
    entry = ParsedEntry(
        booking_date=group.as_of,
        value_date=value_date,
        amount=_money(amount, units) * sign,
        currency=statement.currency,
        bank_reference=bank_reference
        or f"{statement.statement_id}/{len(statement.entries) + 1}",
        end_to_end_id=customer_reference,
        remittance=text,
        transaction_code=type_text,
        location=f"line {record.line}",
    )
    return entry, amount


def _integer(text: str, record: _Record, what: str, *, blank: int | None = None) -> int:
    value = text.strip()
    if not value and blank is not None:
        return blank
    if not re.fullmatch(r"[+-]?\d+", value):
        raise StatementError(
            f"The {what} '{text}' of record {record.code} is not a whole number.",
            location=f"line {record.line}",
        )
    return int(value)


def _money(minor: int, units: int) -> Decimal:
    return Decimal(minor).scaleb(-units)


def _minor_units(currency: str, record: _Record) -> int:
    try:
        return minor_units(currency)
    except DomainError as error:
        raise StatementError(error.message, location=f"line {record.line}") from None


def _date(text: str, record: _Record) -> date:
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except (ValueError, IndexError):
        raise StatementError(
            f"'{text}' is not a date (YYMMDD).", location=f"line {record.line}"
        ) from None
