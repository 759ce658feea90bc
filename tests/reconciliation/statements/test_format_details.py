"""Rules of the formats that the published samples do not exercise."""

from datetime import date
from decimal import Decimal
from pathlib import Path

from reconciliation.statements import mt940, parse_statement

FIXTURES = Path(__file__).parent / "fixtures"


def camt(entries: str, *, version: str = "08") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">'
        "<BkToCstmrStmt><Stmt><Id>S1</Id>"
        "<Acct><Id><Othr><Id>0532013000</Id></Othr></Id><Ccy>EUR</Ccy></Acct>"
        + entries
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def entry(amount, indicator, status, reference, details=""):
    return (
        f'<Ntry><NtryRef>{reference}</NtryRef><Amt Ccy="EUR">{amount}</Amt>'
        f"<CdtDbtInd>{indicator}</CdtDbtInd>{status}"
        "<BookgDt><DtTm>2026-03-02T10:15:00</DtTm></BookgDt>"
        f"<NtryDtls>{details}</NtryDtls></Ntry>"
    )


def test_only_booked_camt_entries_count():
    data = camt(
        entry("100.00", "CRDT", "<Sts><Cd>BOOK</Cd></Sts>", "A")
        + entry("200.00", "CRDT", "<Sts><Cd>PDNG</Cd></Sts>", "B")
        + entry("300.00", "CRDT", "<Sts>INFO</Sts>", "C")
    )

    (statement,) = parse_statement(data)

    assert [(e.bank_reference, e.amount) for e in statement.entries] == [
        ("A", Decimal("100.00"))
    ]
    assert statement.account == "0532013000"
    assert statement.entries[0].booking_date == date(2026, 3, 2)


def test_camt_v08_debtor_under_pty_several_unstructured_lines_and_notprovided():
    details = (
        "<TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
        "<RltdPties><Dbtr><Pty><Nm>Globex  SA</Nm></Pty></Dbtr>"
        "<DbtrAcct><Id><Othr><Id>12345678</Id></Othr></Id></DbtrAcct></RltdPties>"
        "<RltdAgts><DbtrAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId>"
        "</DbtrAgt></RltdAgts>"
        "<RmtInf><Ustrd>Invoice INV-1001</Ustrd><Ustrd>and INV-1002</Ustrd></RmtInf>"
        "</TxDtls>"
    )

    (statement,) = parse_statement(
        camt(entry("99.00", "CRDT", "<Sts><Cd>BOOK</Cd></Sts>", "A", details))
    )

    (line,) = statement.entries
    assert (line.payer_name, line.payer_account, line.payer_bic) == (
        "Globex SA",
        "12345678",
        "DEUTDEFF",
    )
    assert line.remittance == "Invoice INV-1001 and INV-1002"
    assert line.end_to_end_id == ""


def test_camt_batched_debit_details_take_the_entry_sign():
    details = "".join(
        f'<TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>'
        "</TxDtls>"
        for amount in ("10.00", "15.50")
    )

    (statement,) = parse_statement(
        camt(entry("25.50", "DBIT", "<Sts>BOOK</Sts>", "FEES", details), version="02")
    )

    assert [(e.amount, e.bank_reference) for e in statement.entries] == [
        (Decimal("-10.00"), "FEES/1"),
        (Decimal("-15.50"), "FEES/2"),
    ]


def test_camt_v14_returns_with_a_missing_booking_date():
    (statement,) = parse_statement(
        (FIXTURES / "camt053-py-v14-returns.xml").read_bytes()
    )

    assert [
        (e.bank_reference, e.amount, e.booking_date) for e in statement.entries
    ] == [
        ("NTRY-0001", Decimal("1500.00"), date(2026, 6, 15)),
        ("NTRY-0002", Decimal("980.50"), date(2026, 6, 15)),
        # No BookgDt and no ValDt: the statement's date.
        ("NTRY-0003", Decimal("-42.00"), date(2026, 6, 15)),
    ]
    assert statement.entries[0].payer_name == "Globex SA"


MT940_ROLLOVER = (
    ":20:YEAREND\r\n:25:PL61109010140000071219812874\r\n:28C:1/1\r\n"
    ":60F:C251231PLN100,00\r\n"
    # Value 2 January 2026, booked 31 December 2025.
    ":61:2601021231C50,00NTRFFV-2025/12/7//BANK0001\r\n"
    ":86:020?00Przelew?20Zapłata za FV 2025/12/7?32Spółka Łódź?31PL271140200"
    "40000350212345678\r\n"
    # Reversal of a credit: booked as a debit.
    ":61:2512311231RC20,00NTRFNONREF//BANK0002\r\n"
    ":62F:C251231PLN130,00\r\n-\r\n"
)


def test_mt940_windows_1250_polish_file_and_year_rollover():
    (statement,) = parse_statement(MT940_ROLLOVER.encode("cp1250"))

    payment, reversal = statement.entries
    assert payment.booking_date == date(2025, 12, 31)
    assert payment.value_date == date(2026, 1, 2)
    assert payment.payer_name == "Spółka Łódź"
    assert payment.remittance == "Zapłata za FV 2025/12/7"
    assert payment.payer_account == "PL27114020040000350212345678"
    assert payment.entry_reference == "FV-2025/12/7"
    assert (reversal.amount, reversal.is_reversal) == (Decimal("-20.00"), True)


def test_mt940_encoding_choice():
    german = "Überweisung Müller Straße".encode("cp1252")
    polish = "Zapłata Łódź źdźbło".encode("cp1250")

    assert mt940.decode(german) == "Überweisung Müller Straße"
    assert mt940.decode(polish) == "Zapłata Łódź źdźbło"
    assert mt940.decode("Zapłata".encode()) == "Zapłata"


def test_mt940_dutch_ing_layout_with_counterparty_and_structured_reference():
    data = (
        b":20:ING\n:25:NL20INGB0001234567\n:28C:1\n:60F:C260301EUR0,00\n"
        b":61:2603020302C1500,00NTRNEREF//00000000001\n"
        b":86:/TRTP/SEPA OVERBOEKING/IBAN/NL86INGB0002445588/BIC/INGBNL2A/NAME/"
        b"ACME BV/REMI/Factuur 2026-0042 en/\n2026-0043/EREF/E2E-77/\n"
        b":61:2603020302C20,00NTRNEREF//00000000002\n"
        b":86:/CNTP/NL02ABNA0123456789/ABNANL2A/J DOE/AMSTERDAM/REMI/STRD/CDTRREFTP//"
        b"CD/SCOR/ISSR/CUR/CDTRREF/RF18539007547034/\n"
        b":62F:C260302EUR1520,00\n"
    )

    (statement,) = parse_statement(data)

    ing, abn = statement.entries
    assert (ing.payer_name, ing.payer_account, ing.payer_bic) == (
        "ACME BV",
        "NL86INGB0002445588",
        "INGBNL2A",
    )
    assert ing.remittance == "Factuur 2026-0042 en/2026-0043"
    assert ing.end_to_end_id == "E2E-77"
    assert ing.transaction_code == "SEPA OVERBOEKING"
    assert (abn.payer_name, abn.payer_account, abn.payer_bic) == (
        "J DOE",
        "NL02ABNA0123456789",
        "ABNANL2A",
    )
    assert abn.structured_reference == "RF18539007547034"


def parties(debtor: str, creditor: str) -> str:
    return (
        "<TxDtls><RltdPties>"
        f"<Dbtr><Nm>{debtor}</Nm></Dbtr><Cdtr><Nm>{creditor}</Nm></Cdtr>"
        "</RltdPties></TxDtls>"
    )


def test_camt_counterparty_is_the_payer_of_a_credit_and_of_its_reversal():
    reversal = entry(
        "50.00",
        "DBIT",
        "<RvslInd>true</RvslInd><Sts>BOOK</Sts>",
        "R",
        parties("Customer Ltd", "Our Company"),
    )
    supplier = entry(
        "80.00", "DBIT", "<Sts>BOOK</Sts>", "S", parties("Our Company", "Supplier AG")
    )

    (statement,) = parse_statement(camt(reversal + supplier, version="02"))

    assert [(e.amount, e.is_reversal, e.payer_name) for e in statement.entries] == [
        (Decimal("-50.00"), True, "Customer Ltd"),
        (Decimal("-80.00"), False, "Supplier AG"),
    ]
