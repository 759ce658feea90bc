"""ISO 20022 camt.053 (statement) and camt.054 (notification) reader.

Elements are matched on their local names, so every published version of the two
messages (001.02 to 001.13) reads the same way; the root namespace must be one of
``urn:iso:std:iso:20022:tech:xsd:camt.05[34].001.NN`` (or none at all, which a
few banks' exports have).

The XML parser is hardened: no DTD is loaded, no entity is resolved, nothing is
fetched from the network, and huge text nodes are refused. A document that
declares a DOCTYPE (the vehicle of external-entity and "billion laughs"
attacks) is refused outright: a bank statement never needs one.

Only booked entries (``Sts`` BOOK) are read; pending and informational ones are
not money on the account yet. A booked entry with several ``TxDtls`` gives one
:class:`ParsedEntry` per detail, each with its own amount; the details must add
up to the entry. A reversal (``RvslInd`` true) keeps the sign it was booked
with: the reversal of a credit is booked as a debit.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from .base import ParsedEntry, ParsedStatement, StatementError

_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.05([34])\.001\.\d\d$")
_CONTAINERS = {
    "BkToCstmrStmt": ("Stmt", "statement"),
    "BkToCstmrDbtCdtNtfctn": ("Ntfctn", "notification"),
}
_OPENING_CODES = ("OPBD", "PRCD")
_CLOSING_CODES = ("CLBD",)
_NOT_PROVIDED = {"NOTPROVIDED", "NONREF", ""}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes) -> list[ParsedStatement]:
    """Read a camt.053 or camt.054 document; balances are not checked here."""
    root = _load(data)
    namespace = etree.QName(root).namespace or ""
    if namespace and not _NAMESPACE.match(namespace):
        raise StatementError(
            f"The XML namespace '{namespace}' is not a camt.053 or camt.054 "
            "message (urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN).",
            location=_name(root),
        )
    if _name(root) != "Document":
        raise StatementError(
            "The XML root element is not <Document>.", location=_name(root)
        )
    for container in root:
        names = _CONTAINERS.get(_name(container))
        if names is None:
            continue
        report_name, kind = names
        where = f"Document/{_name(container)}"
        return [
            _statement(report, f"{where}/{report_name}[{index}]", kind)
            for index, report in enumerate(_children(container, report_name), 1)
        ]
    raise StatementError(
        "The document holds neither <BkToCstmrStmt> (camt.053) nor "
        "<BkToCstmrDbtCdtNtfctn> (camt.054).",
        location="Document",
    )


def _load(data: bytes) -> etree._Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise StatementError(
            "The XML declares a DOCTYPE or entities; bank statements never do, "
            "and such files are refused (entity expansion and external entities)."
        )
    try:
        tree = etree.fromstring(data, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as error:
        line = error.lineno or (error.position[0] if error.position else 0)
        raise StatementError(
            f"The XML is malformed: {error.msg}", location=f"line {line}"
        ) from None
    # A file in UTF-16 slips past the byte search above; lxml still reports it.
    if tree.docinfo.doctype:
        raise StatementError(
            "The XML declares a DOCTYPE; bank statements never do, and such files "
            "are refused (entity expansion and external entities)."
        )
    return tree.getroot()


def _name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element | None, name: str) -> list[etree._Element]:
    if element is None:
        return []
    return [
        child
        for child in element
        if isinstance(child.tag, str) and etree.QName(child).localname == name
    ]


def _find(element: etree._Element | None, path: str) -> etree._Element | None:
    for name in path.split("/"):
        found = _children(element, name)
        if not found:
            return None
        element = found[0]
    return element


def _text(element: etree._Element | None, *paths: str) -> str:
    """Stripped text of the first of ``paths`` that is present, else ""."""
    for path in paths:
        found = _find(element, path)
        if found is not None and (found.text or "").strip():
            return " ".join(found.text.split())
    return ""


def _amount(element: etree._Element | None, where: str) -> tuple[Decimal, str] | None:
    if element is None:
        return None
    text = (element.text or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise StatementError(f"'{text}' is not an amount.", location=where) from None
    if not value.is_finite() or value < 0:
        raise StatementError(
            f"'{text}' is not an amount (amounts are positive, the sign is CdtDbtInd).",
            location=where,
        )
    currency = (element.get("Ccy") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementError(
            f"The amount has no valid currency (Ccy='{currency}').", location=where
        )
    return value, currency


def _sign(element: etree._Element, where: str, default: int | None = None) -> int:
    indicator = _text(element, "CdtDbtInd")
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    if not indicator and default is not None:
        return default
    raise StatementError(
        f"CdtDbtInd is '{indicator}', expected CRDT or DBIT.",
        location=f"{where}/CdtDbtInd",
    )


def _date(element: etree._Element | None, where: str) -> date | None:
    """A ``Dt`` or ``DtTm`` child as a date (the bank's local date)."""
    text = _text(element, "Dt")
    try:
        if text:
            return date.fromisoformat(text[:10])
        text = _text(element, "DtTm")
        if text:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise StatementError(f"'{text}' is not a date.", location=where) from None
    return None


def _statement(report: etree._Element, where: str, kind: str) -> ParsedStatement:
    account = _text(report, "Acct/Id/IBAN", "Acct/Id/Othr/Id")
    if not account:
        raise StatementError(
            "The statement names no account (Acct/Id/IBAN or Acct/Id/Othr/Id).",
            location=f"{where}/Acct",
        )
    statement = ParsedStatement(
        account=account,
        currency=_text(report, "Acct/Ccy").upper(),
        statement_id=_text(report, "Id"),
        kind=kind,
    )
    _read_balances(report, where, statement)
    if statement.opening_date is None:
        statement.opening_date = _date_from_datetime(_text(report, "FrToDt/FrDtTm"))
    if statement.closing_date is None:
        statement.closing_date = _date_from_datetime(
            _text(report, "FrToDt/ToDtTm") or _text(report, "CreDtTm")
        )
    for index, entry in enumerate(_children(report, "Ntry"), 1):
        statement.entries.extend(
            _entries(entry, f"{where}/Ntry[{index}]", statement, index)
        )
    if not statement.currency:
        currencies = {entry.currency for entry in statement.entries}
        statement.currency = currencies.pop() if len(currencies) == 1 else ""
    return statement


def _date_from_datetime(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _read_balances(report, where: str, statement: ParsedStatement) -> None:
    for index, balance in enumerate(_children(report, "Bal"), 1):
        at = f"{where}/Bal[{index}]"
        code = _text(balance, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if code not in _OPENING_CODES + _CLOSING_CODES:
            continue
        amount = _amount(_find(balance, "Amt"), f"{at}/Amt")
        if amount is None:
            raise StatementError("The balance has no amount.", location=f"{at}/Amt")
        value, currency = amount
        signed = value * _sign(balance, at)
        statement.currency = statement.currency or currency
        if currency != statement.currency:
            raise StatementError(
                f"The balance is in {currency}, the account in {statement.currency}.",
                location=f"{at}/Amt",
            )
        when = _date(_find(balance, "Dt"), f"{at}/Dt")
        # OPBD wins over PRCD when a bank sends both (they are equal anyway).
        if code in _OPENING_CODES and (
            statement.opening_balance is None or code == "OPBD"
        ):
            statement.opening_balance, statement.opening_date = signed, when
        elif code in _CLOSING_CODES:
            statement.closing_balance, statement.closing_date = signed, when


def _is_booked(entry: etree._Element) -> bool:
    return _text(entry, "Sts/Cd", "Sts") == "BOOK"


def _entries(
    entry: etree._Element, where: str, statement: ParsedStatement, position: int
) -> list[ParsedEntry]:
    if not _is_booked(entry):
        return []
    amount = _amount(_find(entry, "Amt"), f"{where}/Amt")
    if amount is None:
        raise StatementError("The entry has no amount.", location=f"{where}/Amt")
    value, currency = amount
    sign = _sign(entry, where)
    value_date = _date(_find(entry, "ValDt"), f"{where}/ValDt")
    # BookgDt is optional in the schema; a bank that leaves it out books on
    # the value date, or at the latest on the statement's date.
    booking_date = (
        _date(_find(entry, "BookgDt"), f"{where}/BookgDt")
        or value_date
        or statement.closing_date
    )
    if booking_date is None:
        raise StatementError(
            "The booked entry has no booking date (BookgDt), no value date and "
            "the statement no date.",
            location=f"{where}/BookgDt",
        )
    entry_reference = _text(entry, "AcctSvcrRef", "NtryRef") or (
        f"{statement.statement_id or statement.account}/{position}"
    )
    common = {
        "booking_date": booking_date,
        "currency": currency,
        "value_date": value_date,
        "entry_reference": entry_reference,
        "is_reversal": _text(entry, "RvslInd").lower() in ("true", "1"),
        "transaction_code": _transaction_code(entry),
    }
    details = [
        (f"{where}/NtryDtls[{outer}]/TxDtls[{inner}]", detail)
        for outer, group in enumerate(_children(entry, "NtryDtls"), 1)
        for inner, detail in enumerate(_children(group, "TxDtls"), 1)
    ]
    entry_text = _text(entry, "AddtlNtryInf")
    if len(details) <= 1:
        detail_where, detail = details[0] if details else (where, None)
        return [
            ParsedEntry(
                amount=value * sign,
                bank_reference=entry_reference,
                location=where,
                **common,
                **_detail_fields(detail, sign, common["is_reversal"], entry_text),
            )
        ]
    parsed = []
    for index, (detail_where, detail) in enumerate(details, 1):
        # lxml elements without children are falsy: compare with None.
        amount_element = _find(detail, "AmtDtls/TxAmt/Amt")
        if amount_element is None:
            amount_element = _find(detail, "Amt")
        detail_amount = _amount(amount_element, f"{detail_where}/Amt")
        if detail_amount is None:
            raise StatementError(
                "A detail of a batched entry has no amount (AmtDtls/TxAmt/Amt or Amt).",
                location=detail_where,
            )
        detail_value, detail_currency = detail_amount
        if detail_currency != currency:
            raise StatementError(
                f"The detail is in {detail_currency}, its entry in {currency}.",
                location=f"{detail_where}/Amt",
            )
        detail_sign = _sign(detail, detail_where, default=sign)
        parsed.append(
            ParsedEntry(
                amount=detail_value * detail_sign,
                bank_reference=f"{entry_reference}/{index}",
                location=detail_where,
                **common,
                **_detail_fields(detail, detail_sign, common["is_reversal"], ""),
            )
        )
    total = sum((item.amount for item in parsed), Decimal(0))
    if total != value * sign:
        raise StatementError(
            f"The {len(parsed)} transaction details add up to {total}, but the "
            f"entry is {value * sign}.",
            location=where,
        )
    return parsed


def _transaction_code(entry: etree._Element) -> str:
    domain = _find(entry, "BkTxCd/Domn")
    if domain is not None:
        parts = [
            _text(domain, "Cd"),
            _text(domain, "Fmly/Cd"),
            _text(domain, "Fmly/SubFmlyCd"),
        ]
        return "/".join(part for part in parts if part)
    return _text(entry, "BkTxCd/Prtry/Cd")


def _detail_fields(
    detail: etree._Element | None, sign: int, is_reversal: bool, entry_text: str
) -> dict[str, str]:
    """Remittance, references and the counterparty of one transaction detail."""
    if detail is None:
        return {"remittance": entry_text}
    unstructured = " ".join(
        " ".join(line.text.split())
        for info in _children(detail, "RmtInf")
        for line in _children(info, "Ustrd")
        if line.text and line.text.strip()
    )
    structured = " ".join(
        " ".join(reference.text.split())
        for info in _children(detail, "RmtInf")
        for block in _children(info, "Strd")
        for reference in _children(_find(block, "CdtrRefInf"), "Ref")
        if reference.text and reference.text.strip()
    )
    end_to_end = _text(detail, "Refs/EndToEndId")
    # The party on the other side: who paid us for money in, whom we paid for
    # money out; a reversal is booked opposite to what it reverses.
    money_in = (sign > 0) != is_reversal
    sides = ("Dbtr", "Cdtr") if money_in else ("Cdtr", "Dbtr")
    party = next((side for side in sides if _counterparty_name(detail, side)), sides[0])
    return {
        "remittance": unstructured
        or ("" if structured else _text(detail, "AddtlTxInf") or entry_text),
        "structured_reference": structured,
        "end_to_end_id": "" if end_to_end.upper() in _NOT_PROVIDED else end_to_end,
        "payer_name": _counterparty_name(detail, party),
        "payer_account": _text(
            detail,
            f"RltdPties/{party}Acct/Id/IBAN",
            f"RltdPties/{party}Acct/Id/Othr/Id",
        ),
        "payer_bic": _text(
            detail,
            f"RltdAgts/{party}Agt/FinInstnId/BIC",
            f"RltdAgts/{party}Agt/FinInstnId/BICFI",
        ),
    }


def _counterparty_name(detail: etree._Element, party: str) -> str:
    # Up to version 07 the name is RltdPties/Dbtr/Nm; from 08 on it sits one
    # level deeper, in Dbtr/Pty/Nm.
    return _text(detail, f"RltdPties/{party}/Nm", f"RltdPties/{party}/Pty/Nm")
