"""Small statement writers for the round-trip tests: known entries in, file out.

Each writes only what its format can carry; the tests compare the fields that
survive the trip. They follow the published layouts, not the readers' code.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from itertools import groupby
from xml.sax.saxutils import escape

from reconciliation.statements.base import ParsedEntry, ParsedStatement

CAMT_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"


def _camt_balance(code: str, amount: Decimal, currency: str, when) -> str:
    indicator = "CRDT" if amount >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{abs(amount)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Dt><Dt>{when.isoformat()}</Dt></Dt></Bal>"
    )


def _camt_party(entry: ParsedEntry, version: int) -> str:
    side = "Dbtr" if (entry.amount > 0) != entry.is_reversal else "Cdtr"
    name = escape(entry.payer_name)
    # Version 08 moved the name under Pty and renamed BIC to BICFI.
    party = f"<Pty><Nm>{name}</Nm></Pty>" if version >= 8 else f"<Nm>{name}</Nm>"
    bic_tag = "BICFI" if version >= 8 else "BIC"
    return (
        f"<RltdPties><{side}>{party}</{side}>"
        f"<{side}Acct><Id><IBAN>{entry.payer_account}</IBAN></Id></{side}Acct>"
        f"</RltdPties><RltdAgts><{side}Agt><FinInstnId>"
        f"<{bic_tag}>{entry.payer_bic}</{bic_tag}></FinInstnId></{side}Agt>"
        f"</RltdAgts>"
    )


def _camt_detail(entry: ParsedEntry, version: int, batched: bool) -> str:
    amount = ""
    if batched:
        indicator = "CRDT" if entry.amount >= 0 else "DBIT"
        amount = (
            f'<AmtDtls><TxAmt><Amt Ccy="{entry.currency}">{abs(entry.amount)}</Amt>'
            f"</TxAmt></AmtDtls><CdtDbtInd>{indicator}</CdtDbtInd>"
        )
    remittance = "".join(
        f"<Ustrd>{escape(part)}</Ustrd>" for part in entry.remittance.split("|") if part
    )
    if entry.structured_reference:
        remittance += (
            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
            f"<Ref>{entry.structured_reference}</Ref></CdtrRefInf></Strd>"
        )
    return (
        f"<TxDtls><Refs><EndToEndId>{escape(entry.end_to_end_id or 'NOTPROVIDED')}"
        f"</EndToEndId></Refs>{amount}{_camt_party(entry, version)}"
        f"<RmtInf>{remittance}</RmtInf></TxDtls>"
    )


def write_camt053(statement: ParsedStatement, *, version: int = 2) -> bytes:
    """One statement; entries sharing ``entry_reference`` form one batched Ntry."""
    entries = []
    for reference, group in groupby(statement.entries, key=lambda e: e.entry_reference):
        details = list(group)
        total = sum((d.amount for d in details), Decimal(0))
        first = details[0]
        status = "<Sts><Cd>BOOK</Cd></Sts>" if version >= 8 else "<Sts>BOOK</Sts>"
        batched = len(details) > 1
        entries.append(
            f'<Ntry><NtryRef>{escape(reference)}</NtryRef><Amt Ccy="{first.currency}">'
            f"{abs(total)}</Amt><CdtDbtInd>{'CRDT' if total >= 0 else 'DBIT'}"
            f"</CdtDbtInd><RvslInd>{str(first.is_reversal).lower()}</RvslInd>"
            f"{status}<BookgDt><Dt>{first.booking_date.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{(first.value_date or first.booking_date).isoformat()}</Dt>"
            f"</ValDt><AcctSvcrRef>{escape(reference)}</AcctSvcrRef>"
            f"<NtryDtls>"
            + "".join(_camt_detail(d, version, batched) for d in details)
            + "</NtryDtls></Ntry>"
        )
    currency = statement.currency
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="{CAMT_NAMESPACE.format(version=version)}">'
        "<BkToCstmrStmt><GrpHdr><MsgId>TEST</MsgId>"
        "<CreDtTm>2026-01-01T00:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement.statement_id}</Id>"
        f"<Acct><Id><IBAN>{statement.account}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        + _camt_balance(
            "OPBD", statement.opening_balance, currency, statement.opening_date
        )
        + _camt_balance(
            "CLBD", statement.closing_balance, currency, statement.closing_date
        )
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    )
    return document.encode()


def _mt940_amount(amount: Decimal) -> str:
    return f"{abs(amount):.2f}".replace(".", ",")


def _mt940_balance(tag: str, amount: Decimal, currency: str, when) -> str:
    mark = "C" if amount >= 0 else "D"
    return f":{tag}:{mark}{when:%y%m%d}{currency}{_mt940_amount(amount)}"


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def write_mt940(statements: list[ParsedStatement], *, encoding="utf-8") -> bytes:
    """Statements in a SWIFT envelope each, field 86 in the German layout."""
    lines: list[str] = []
    for number, statement in enumerate(statements, 1):
        lines += [
            "{1:F01TESTDEFFAXXX0000000000}{2:O9401200260101TESTDEFFAXXX}{4:",
            f":20:{statement.statement_id}",
            f":25:{statement.account}",
            f":28C:{number}/1",
            _mt940_balance(
                "60F",
                statement.opening_balance,
                statement.currency,
                statement.opening_date,
            ),
        ]
        for entry in statement.entries:
            sign = "C" if entry.amount >= 0 else "D"
            mark = ("R" + ("D" if sign == "C" else "C")) if entry.is_reversal else sign
            value_date = entry.value_date or entry.booking_date
            lines.append(
                f":61:{value_date:%y%m%d}{entry.booking_date:%m%d}{mark}"
                f"{_mt940_amount(entry.amount)}NTRF"
                f"{entry.entry_reference or 'NONREF'}//{entry.bank_reference}"
            )
            purpose = ""
            if entry.end_to_end_id:
                purpose += f"EREF+{entry.end_to_end_id}"
            purpose += f"SVWZ+{entry.remittance}"
            subfields = [
                f"?{20 + i}{chunk}" for i, chunk in enumerate(_wrap(purpose, 27))
            ]
            name = _wrap(entry.payer_name, 27)
            subfields += [f"?{32 + i}{chunk}" for i, chunk in enumerate(name[:2])]
            subfields += [f"?30{entry.payer_bic}", f"?31{entry.payer_account}"]
            field86 = "166?00GUTSCHRIFT" + "".join(subfields)
            wrapped = _wrap(field86, 61)
            lines.append(f":86:{wrapped[0]}")
            lines += wrapped[1:]
        lines.append(
            _mt940_balance(
                "62F",
                statement.closing_balance,
                statement.currency,
                statement.closing_date,
            )
        )
        lines.append("-}")
    return "\r\n".join(lines).encode(encoding)


def write_bai2(statements: list[ParsedStatement], *, minor_units: int = 2) -> bytes:
    """One group per statement (as-of date = its booking date), ledger balances."""
    records: list[str] = ["01,SENDER,RECEIVER,260101,1200,FILE1,,,2/"]
    file_total = 0
    groups = []
    for statement in statements:
        scale = Decimal(10) ** minor_units
        opening = int(statement.opening_balance * scale)
        closing = int(statement.closing_balance * scale)
        account = [
            f"03,{statement.account},{statement.currency},010,{opening:+d},,,"
            f"015,{closing:+d},,/"
        ]
        total = opening + closing
        for entry in statement.entries:
            minor = int(abs(entry.amount) * scale)
            total += minor
            type_code = "115" if entry.amount > 0 else "475"
            # Funds type V carries the value date and an (empty) time.
            funds = f"V,{entry.value_date:%y%m%d}," if entry.value_date else "Z"
            short = len(entry.remittance) <= 40
            account.append(
                f"16,{type_code},{minor},{funds},{entry.bank_reference},"
                f"{entry.end_to_end_id},{entry.remittance if short else ''}"
            )
            if not short:
                account.append(f"88,{entry.remittance}")
        account.append(f"49,{total},{len(account) + 1}/")
        as_of = statement.opening_date
        group = [f"02,RECEIVER,ORIGINATOR,1,{as_of:%y%m%d},2400,,/", *account]
        group.append(f"98,{total},1,{len(group) + 1}/")
        groups.append(group)
        file_total += total
    for group in groups:
        records += group
    records.append(f"99,{file_total},{len(groups)},{len(records) + 1}/")
    return "\n".join(records).encode()


CSV_HEADER = [
    "Buchungstag",
    "Betrag",
    "Währung",
    "Auftraggeber",
    "IBAN",
    "Zweck",
    "Ref",
]


def write_csv(entries: list[ParsedEntry], *, german: bool = True) -> bytes:
    """A German-style export: ';', decimal comma, dd.mm.yyyy, a title line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if german else ",")
    buffer.write("Umsätze Girokonto\n")
    writer.writerow(CSV_HEADER)
    for entry in entries:
        amount = f"{entry.amount:,.2f}"
        if german:
            amount = amount.replace(",", " ").replace(".", ",").replace(" ", ".")
        writer.writerow(
            [
                entry.booking_date.strftime("%d.%m.%Y" if german else "%Y-%m-%d"),
                amount,
                entry.currency,
                entry.payer_name,
                entry.payer_account,
                entry.remittance,
                entry.bank_reference,
            ]
        )
    return buffer.getvalue().encode("utf-8")
