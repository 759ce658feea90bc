"""SWIFT MT940 reader.

Written here rather than on the ``mt-940`` package: that package raises a bare
``RuntimeError`` without a line number on a malformed ``:61:`` (and prints its
regex trace to the console), signs ``RC`` as a credit unless an option is set,
and leaves the Dutch ``/TRTP/…/NAME/…`` layout of field 86 unparsed, so every
one of the variants below would have needed its own pass around it.

What is read:

* several statements per file: each ``:20:`` starts one; ``-`` lines and SWIFT
  envelopes (``{1:…}{2:…}{4:`` … ``-}``) are stripped, and so are bank header
  lines in front of a statement (ABN AMRO's ``ABNANL2A`` / ``940``);
* ``:60F:``/``:60M:`` opening and ``:62F:``/``:62M:`` closing balances;
* ``:61:``: value date, optional entry date (with the year rolled over around
  New Year), ``C``/``D``/``RC``/``RD``, funds code, amount with a decimal
  comma, transaction type, customer reference ``//`` bank reference and the
  supplementary details line;
* ``:86:`` in the German structured layout (``GVC?00…?20…?32…``, with the SEPA
  tags ``EREF+``, ``KREF+``, ``MREF+``, ``SVWZ+``…), the Dutch layout
  (``/TRTP/…/IBAN/…/NAME/…/REMI/…/EREF/…`` of ABN AMRO, ING and Rabobank) and
  free text (Swiss and other banks).

Encoding: UTF-8 when the bytes are valid UTF-8; otherwise each of Windows-1252,
ISO-8859-1 and Windows-1250 decodes the file and the one whose non-ASCII
characters look most like letters wins (control characters count against,
letters only Central-European languages use count for Windows-1250; a tie goes
to Windows-1252, the usual code page of Western banks).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from .base import ParsedEntry, ParsedStatement, StatementError

_FIELD = re.compile(r"^:(?P<tag>\d{2}[A-Z]?|NS):(?P<value>.*)$")
_ENVELOPE_START = re.compile(r"^(\{\d:[^{}]*\})*\{4:")
_BALANCE = re.compile(
    r"^(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d[\d]*,\d*)$"
)
_STATEMENT_LINE = re.compile(
    r"""^(?P<value_date>\d{6})
    (?P<entry_date>\d{4})?
    (?P<mark>R?[CD])
    (?P<funds_code>[A-Z])?
    (?P<amount>\d+,\d*)
    (?P<type>[NSF][A-Z0-9]{3})
    # SWIFT allows 16 characters for each reference; some banks send more,
    # which costs nothing to accept.
    (?P<customer_reference>(?:(?!//).)*)
    (?://(?P<bank_reference>.*))?
    $""",
    re.VERBOSE,
)
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED"}
_LINE_LENGTH = 65  # SWIFT wraps field content at 65 characters
_GERMAN = re.compile(r"^(?P<code>\d{3})?(?P<rest>\?\d{2}.*)$", re.DOTALL)
_GERMAN_SUBFIELD = re.compile(r"\?(\d{2})")
_SUBFIELD_LENGTH = 27
_SEPA_TAGS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC)\+")
_DUTCH_KEYS = (
    "TRTP|EREF|IBAN|BIC|NAME|REMI|CNTP|BENM|ORDP|MARF|CSID|ISDT|RTRN|ADDR|PURP|"
    "ULTC|ULTD|ULTB|CDTRREFTP|CDTRREF|PREF|SVCL|RTYP|CHGS|EXCH|OCMT|BUSP|USTD|STRD"
)
_DUTCH_KEY = re.compile(rf"/({_DUTCH_KEYS})/")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$")
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_CENTRAL_EUROPEAN = set("ąćęłńśźżĄĆĘŁŃŚŹŻčďěňřšťůžČĎĚŇŘŠŤŮŽĺľŕĹĽŔőűŐŰăşţĂŞŢ")


def decode(data: bytes) -> str:
    """The file's text, in the encoding chosen as the module docstring says."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    candidates = []
    for rank, encoding in enumerate(("cp1252", "iso-8859-1", "cp1250")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        candidates.append((_letter_score(text), -rank, text))
    return max(candidates)[2]


def _letter_score(text: str) -> int:
    score = 0
    for character in {ch for ch in text if ord(ch) > 127}:
        count = text.count(character)
        if unicodedata.category(character) == "Cc":
            score -= 5 * count
        elif character in _CENTRAL_EUROPEAN:
            score += 2 * count
        elif character.isalpha():
            score += count
    return score


@dataclass
class _Field:
    tag: str
    line: int
    lines: list[str] = field(default_factory=list)


@dataclass
class _Block:
    fields: list[_Field] = field(default_factory=list)


def parse(data: bytes) -> list[ParsedStatement]:
    """Read every statement of an MT940 file; balances are not checked here."""
    return [_statement(block) for block in _blocks(decode(data))]


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Field | None = None
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        line = raw.rstrip("\r")
        envelope = _ENVELOPE_START.match(line)
        if envelope:
            line, current = line[envelope.end() :], None
        if line.strip() == "-" or line.startswith("-}"):
            current = None
            continue
        match = _FIELD.match(line)
        if match is None:
            # Lines that continue a field; anything outside a field is a bank
            # header (ABN AMRO's "ABNANL2A"/"940") or blank, and is skipped.
            if current is not None and line.strip():
                current.lines.append(line)
            continue
        tag = match["tag"]
        current = _Field(tag=tag, line=number, lines=[match["value"]])
        if tag == "20" or not blocks:
            blocks.append(_Block())
        blocks[-1].fields.append(current)
    return [block for block in blocks if any(f.tag == "20" for f in block.fields)]


def _statement(block: _Block) -> ParsedStatement:
    statement = ParsedStatement(account="", currency="")
    reference = number = ""
    pending: list[tuple[_Field, dict]] = []
    for item in block.fields:
        value = item.lines[0].strip()
        if item.tag == "20":
            reference = value
        elif item.tag == "25":
            statement.account = value
        elif item.tag in ("28", "28C"):
            number = value
        elif item.tag in ("60F", "60M"):
            amount, when, currency = _balance(item)
            statement.opening_balance, statement.opening_date = amount, when
            statement.currency = currency
        elif item.tag in ("62F", "62M"):
            amount, when, currency = _balance(item)
            statement.closing_balance, statement.closing_date = amount, when
            _same_currency(statement, currency, item)
        elif item.tag == "61":
            pending.append((item, _statement_line(item)))
        elif item.tag == "86" and pending and "details" not in pending[-1][1]:
            pending[-1][1]["details"] = item
    if not statement.account:
        raise StatementError(
            "The statement has no account (field :25:).",
            location=f"line {block.fields[0].line}",
        )
    if not statement.currency:
        raise StatementError(
            "The statement has no opening balance (field :60F: or :60M:), so its "
            "currency is unknown.",
            location=f"line {block.fields[0].line}",
        )
    statement.statement_id = f"{reference}/{number}" if number else reference
    seen: set[str] = set()
    for index, (line_field, line) in enumerate(pending, 1):
        entry = _entry(line_field, line, statement)
        # The bank reference is the line's identity; where the bank gives none,
        # or gives one twice, the line's place in the statement stands in.
        if not entry.bank_reference or entry.bank_reference in seen:
            suffix = f"{statement.statement_id}/{index}"
            reference = f"{entry.bank_reference}/{suffix}".lstrip("/")
            entry = replace(entry, bank_reference=reference)
        seen.add(entry.bank_reference)
        statement.entries.append(entry)
    return statement


def _same_currency(statement: ParsedStatement, currency: str, item: _Field) -> None:
    if statement.currency and currency != statement.currency:
        raise StatementError(
            f"The closing balance is in {currency}, the opening balance in "
            f"{statement.currency}.",
            location=f"line {item.line}",
        )
    statement.currency = statement.currency or currency


def _balance(item: _Field) -> tuple[Decimal, date, str]:
    match = _BALANCE.match(item.lines[0].strip())
    if match is None:
        raise StatementError(
            f"Field :{item.tag}: '{item.lines[0].strip()}' is not a balance "
            "(C or D, YYMMDD, currency, amount with a decimal comma).",
            location=f"line {item.line}",
        )
    amount = _decimal(match["amount"])
    sign = 1 if match["mark"] == "C" else -1
    return amount * sign, _date(match["date"], item), match["currency"]


def _decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", ".").rstrip(".") or "0")


def _date(text: str, item: _Field) -> date:
    year = int(text[:2])
    try:
        return date(
            year + (1900 if year >= 80 else 2000), int(text[2:4]), int(text[4:6])
        )
    except ValueError:
        raise StatementError(
            f"'{text}' in field :{item.tag}: is not a date (YYMMDD).",
            location=f"line {item.line}",
        ) from None


def _statement_line(item: _Field) -> dict:
    text = item.lines[0]
    match = _STATEMENT_LINE.match(text.strip())
    if match is None or len(match["amount"]) > 15:
        raise StatementError(
            f"Field :61: '{text.strip()}' is not a statement line (value date "
            "YYMMDD, optional entry date MMDD, C/D/RC/RD, amount with a decimal "
            "comma, transaction type, reference).",
            location=f"line {item.line}",
        )
    value_date = _date(match["value_date"], item)
    booking_date = value_date
    if match["entry_date"]:
        month, day = int(match["entry_date"][:2]), int(match["entry_date"][2:])
        year = value_date.year
        # Booked on 31 December, value 2 January (or the other way round).
        if month == 12 and value_date.month == 1:
            year -= 1
        elif month == 1 and value_date.month == 12:
            year += 1
        booking_date = _date(f"{year % 100:02d}{month:02d}{day:02d}", item)
    mark = match["mark"]
    amount = _decimal(match["amount"])
    # RC is the reversal of a credit, booked as a debit; RD the other way.
    sign = 1 if mark in ("C", "RD") else -1
    return {
        "value_date": value_date,
        "booking_date": booking_date,
        "amount": amount * sign,
        "is_reversal": mark.startswith("R"),
        "type": match["type"],
        "customer_reference": match["customer_reference"].strip(),
        "bank_reference": (match["bank_reference"] or "").strip(),
        "supplementary": " ".join(" ".join(item.lines[1:]).split()),
    }


def _entry(item: _Field, line: dict, statement: ParsedStatement) -> ParsedEntry:
    supplementary = line["supplementary"]
    # Without field 86 the supplementary details are all the text there is.
    details = (
        _details(line["details"])
        if "details" in line
        else {"remittance": supplementary}
    )
    customer_reference = line["customer_reference"]
    if customer_reference.upper() in _NO_REFERENCE:
        customer_reference = ""
    bank_reference = line["bank_reference"]
    if bank_reference.upper() in _NO_REFERENCE:
        bank_reference = ""
    payer_account = details.pop("payer_account", "")
    if not payer_account and _IBAN.match(supplementary.replace(" ", "")):
        payer_account = supplementary.replace(" ", "")
    return ParsedEntry(
        booking_date=line["booking_date"],
        value_date=line["value_date"],
        amount=line["amount"],
        currency=statement.currency,
        bank_reference=bank_reference,
        entry_reference=customer_reference,
        is_reversal=line["is_reversal"],
        transaction_code=details.pop("transaction_code", "") or line["type"],
        payer_account=payer_account,
        remittance=details.pop("remittance", ""),
        location=f"line {item.line}",
        **details,
    )


def _details(item: _Field) -> dict[str, str]:
    """Field 86 in whichever of the three layouts it is written."""
    german = _GERMAN.match("".join(item.lines).strip())
    if german:
        return _german(german["code"] or "", german["rest"])
    dutch = "".join(item.lines).strip()
    if dutch.startswith("/") and _DUTCH_KEY.search(dutch + "/"):
        return _dutch(dutch + "/")
    return {"remittance": _free_text(item.lines)}


def _free_text(lines: list[str]) -> str:
    text = ""
    for line in lines:
        # A full SWIFT line was cut mid-word; a short one ended a phrase.
        joiner = "" if len(text.split("\n")[-1]) >= _LINE_LENGTH else " "
        text = f"{text}{joiner}{line}" if text else line
    return " ".join(text.split())


def _join_subfields(parts: list[str]) -> str:
    text = previous = ""
    for part in parts:
        # Subfields hold 27 characters: a full one continues in the next.
        joiner = "" if len(previous) >= _SUBFIELD_LENGTH else " "
        text = f"{text}{joiner}{part}" if text else part
        previous = part
    return text


def _german(code: str, rest: str) -> dict[str, str]:
    pieces = _GERMAN_SUBFIELD.split(rest)
    subfields: dict[int, list[str]] = {}
    for number, value in zip(pieces[1::2], pieces[2::2], strict=True):
        subfields.setdefault(int(number), []).append(value)
    purpose = _join_subfields(
        [
            value
            for number in [*range(20, 30), *range(60, 64)]
            for value in subfields.get(number, [])
        ]
    )
    tags = _sepa_tags(purpose)
    remittance = tags.get("SVWZ") or purpose
    end_to_end = tags.get("EREF", "")
    account = (subfields.get(38) or subfields.get(31) or [""])[0].replace(" ", "")
    bank = (subfields.get(30) or [""])[0].strip()
    return {
        "transaction_code": code,
        "remittance": " ".join(remittance.split()),
        "end_to_end_id": "" if end_to_end.upper() in _NO_REFERENCE else end_to_end,
        "payer_name": " ".join(
            _join_subfields(subfields.get(32, []) + subfields.get(33, [])).split()
        ),
        "payer_account": account,
        "payer_bic": bank if _BIC.match(bank) else "",
    }


def _sepa_tags(purpose: str) -> dict[str, str]:
    pieces = _SEPA_TAGS.split(purpose)
    if len(pieces) == 1:
        return {}
    tags: dict[str, str] = {}
    for tag, value in zip(pieces[1::2], pieces[2::2], strict=True):
        tags.setdefault(tag, " ".join(value.split()))
    return tags


def _dutch(text: str) -> dict[str, str]:
    matches = list(_DUTCH_KEY.finditer(text))
    values: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() + 1 if index + 1 < len(matches) else len(text)
        values.setdefault(match[1], text[match.end() : end].strip("/ "))
    # ABN AMRO's counterparty: /CNTP/IBAN/BIC/NAME/CITY/.
    counterparty = values.get("CNTP", "").split("/")
    counterparty += [""] * (3 - len(counterparty))
    end_to_end = values.get("EREF", "")
    remittance = values.get("REMI") or values.get("USTD") or ""
    return {
        "transaction_code": values.get("TRTP", ""),
        "remittance": " ".join(remittance.split()),
        "structured_reference": values.get("CDTRREF", ""),
        "end_to_end_id": "" if end_to_end.upper() in _NO_REFERENCE else end_to_end,
        "payer_name": values.get("NAME") or counterparty[2],
        "payer_account": values.get("IBAN") or counterparty[0],
        "payer_bic": values.get("BIC") or counterparty[1],
    }
