"""Published sample files (see fixtures/SOURCES.md) read to the right figures.

Entry counts and totals were counted from the files themselves (``:61:`` lines,
``<Ntry>``/``<TxDtls>`` elements, 16 records) and written here by hand.
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.statements import (
    StatementError,
    bai2,
    camt,
    detect_format,
    mt940,
    parse_statement,
)

FIXTURES = Path(__file__).parent / "fixtures"


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def figures(statements):
    """(account, entries, sum of entries, opening, closing) per statement."""
    return [
        (
            s.account,
            len(s.entries),
            sum((e.amount for e in s.entries), Decimal(0)),
            s.opening_balance,
            s.closing_balance,
        )
        for s in statements
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oca-camt053-v02.xml", "camt"),
        ("oca-camt054-v04.xml", "camt"),
        ("mt940-rabobank-iban.sta", "mt940"),
        ("mt940-abnamro.sta", "mt940"),
        ("mt940-cmxl.sta", "mt940"),
        ("bai2-moov-sample2.txt", "bai2"),
    ],
)
def test_the_format_is_found_from_the_content(name, expected):
    assert detect_format(read(name), "upload.bin") == expected


def test_camt053_v04_batched_entry_gives_one_line_per_transaction_detail():
    (statement,) = parse_statement(read("oca-camt053-v04-batched.xml"))

    assert figures([statement]) == [
        (
            "CH1111000000123456789",
            2,
            Decimal("3483.00"),
            Decimal("75960.15"),
            Decimal("79443.15"),
        )
    ]
    first, second = statement.entries
    assert (first.amount, second.amount) == (Decimal("2187.00"), Decimal("1296.00"))
    assert first.entry_reference == second.entry_reference
    assert first.bank_reference != second.bank_reference
    assert first.structured_reference == "302388292000011111111111111"
    assert first.payer_name == "Banque Cantonale Vaudoise"
    assert first.payer_account == "CH2222000000123456789"
    assert second.payer_bic == "POFICHBEYYY"  # BICFI, the newer element name
    assert first.booking_date == date(2017, 3, 22)
    assert first.value_date == date(2017, 3, 23)


def test_camt053_v02_reads_reversal_debtor_and_end_to_end_id():
    (statement,) = camt.parse(read("oca-camt053-v02.xml"))

    assert figures([statement]) == [
        (
            "NL77ABNA0574908765",
            3,
            Decimal("57.01"),
            Decimal("15568.27"),
            Decimal("15121.12"),
        )
    ]
    debit, reversal, credit = statement.entries
    assert debit.amount == Decimal("-754.25")
    # A reversal keeps the sign it was booked with (DBIT), flagged as such.
    assert (reversal.amount, reversal.is_reversal) == (Decimal("-594.05"), True)
    assert credit.amount == Decimal("1405.31")
    assert credit.payer_name == "3rd party Media"
    assert credit.payer_account == "NL69ABNA0522123643"
    assert credit.payer_bic == "ABNANL2A"
    assert credit.end_to_end_id == "115"
    assert debit.remittance == "Insurance policy 857239PERIOD 01.01.2013 - 31.12.2013"


def test_camt053_v02_sample_is_refused_because_its_balances_do_not_add_up():
    # The published sample is anonymised: 15568.27 + 57.01 is not 15121.12.
    with pytest.raises(StatementError) as refused:
        parse_statement(read("oca-camt053-v02.xml"))

    assert "15568.27" in str(refused.value)
    assert "57.01" in str(refused.value)
    assert "15625.28" in str(refused.value)
    assert "15121.12" in str(refused.value)


def test_camt054_notification_has_no_balances_and_reads_the_structured_reference():
    (notification,) = parse_statement(read("oca-camt054-v04.xml"))

    assert notification.kind == "notification"
    assert figures([notification]) == [
        ("NL77ABNA0574908765", 1, Decimal("5.00"), None, None)
    ]
    (entry,) = notification.entries
    assert entry.structured_reference == "000000000000000000000000003"
    assert entry.end_to_end_id == "ENDTOENDID-01"
    assert entry.payer_name == "Test Customer"
    assert entry.bank_reference == "98888208N8"


def test_mt940_rabobank_dutch_layout_two_statements():
    statements = parse_statement(read("mt940-rabobank-iban.sta"))

    assert figures(statements) == [
        ("NL71RABO0123456789", 2, Decimal("-35.00"), Decimal("1000"), Decimal("965")),
        ("NL71RABO0123456789", 2, Decimal("-35.00"), Decimal("965"), Decimal("930")),
    ]
    first, second = statements[0].entries
    assert first.payer_name == "CONTRA ACCOUNT HOLDER"
    assert first.end_to_end_id == "01-01-2013 12:00 0030000987654321"
    # The counterparty IBAN is on the :61: line's supplementary details.
    assert first.payer_account == "NL70ABNA0987654321"
    assert (second.payer_name, second.remittance) == (
        "JOHN DOE",
        "Reference 201301234",
    )


def test_mt940_german_and_polish_structured_field_86():
    statements = parse_statement(read("mt940-cmxl.sta"))

    assert figures(statements) == [
        (
            "45050050/76198810",
            11,
            Decimal("87.30"),
            Decimal("84349.74"),
            Decimal("84437.04"),
        ),
        (
            "10020030/1234567",
            2,
            Decimal("2200"),
            Decimal("2187.95"),
            Decimal("4387.95"),
        ),
        (
            "BPHKPLPK/320000546101",
            3,
            Decimal("10040.00"),
            Decimal("40000.00"),
            Decimal("50040.00"),
        ),
    ]
    rent = statements[1].entries[0]
    assert (rent.amount, rent.remittance, rent.payer_name) == (
        Decimal("-800"),
        "Miete November",
        "MUELLER",
    )
    assert rent.transaction_code == "008"
    assert rent.booking_date == date(2002, 11, 2)
    polish = statements[2].entries[0]
    assert polish.payer_account == "PL08106000760000777777777777"
    assert polish.payer_name == "HUTA SZKLA TOPIC UL PRZEMY SLOWA 67 32-669 WROCLAW"
    assert len({entry.bank_reference for entry in statements[0].entries}) == 11


def test_mt940_sepa_tags_in_field_86():
    (statement,) = parse_statement(read("mt940-gv-codes.sta"))

    assert figures([statement]) == [
        ("12345678/1020304050", 2, Decimal("-257.45"), Decimal("12345.12"), None)
    ]
    debit = statement.entries[0]
    assert debit.end_to_end_id == "1234567890123 PAYPAL"
    assert debit.remittance.startswith(". SPOTIFY, Ihr Einkauf")
    assert debit.payer_name == "PayPal (Europe) S.a.r.l. et"


def test_mt940_swiss_free_text_and_abn_amro_headers_are_read():
    postfinance = mt940.parse(read("mt940-postfinance.sta"))
    abn_amro = mt940.parse(read("mt940-abnamro.sta"))

    assert [len(s.entries) for s in postfinance] == [2, 2]
    assert (
        postfinance[0]
        .entries[0]
        .remittance.startswith("GIRO AUS ONLINE-SIC 80532 AUFTRAGGEBER: JANE DOE")
    )
    assert [(len(s.entries), sum(e.amount for e in s.entries)) for s in abn_amro] == [
        (8, Decimal("-321.44")),
        (2, Decimal("-24.49")),
    ]


@pytest.mark.parametrize("name", ["mt940-postfinance.sta", "mt940-abnamro.sta"])
def test_anonymised_mt940_samples_whose_balances_do_not_add_up_are_refused(name):
    # Both published samples had their balances edited by hand, and it shows.
    with pytest.raises(StatementError, match="but the closing balance is"):
        parse_statement(read(name))


def test_bai2_sample_with_value_dated_details_and_continuations():
    statements = parse_statement(read("bai2-moov-sample1.txt"))

    assert figures(statements) == [
        ("10200123456", 11, Decimal("0.00"), None, None),
        ("10200123456", 6, Decimal("0.00"), None, None),
    ]
    first = statements[0].entries[0]
    assert (first.amount, first.currency, first.remittance) == (
        Decimal("-25.00"),
        "CAD",
        "RETURNED CHEQUE",
    )
    assert first.booking_date == date(2006, 3, 17)
    assert first.value_date == date(2006, 3, 16)
    credits = [e.amount for e in statements[0].entries if e.amount > 0]
    assert sum(credits) == Decimal("2085.00")


def test_bai2_specification_sample_with_funds_types_s_v_and_d():
    statements = parse_statement(read("bai2-moov-sample2.txt"))

    assert figures(statements) == [
        ("0123456789", 1, Decimal("4500.00"), Decimal("43500.00"), None),
        ("9876543210", 1, Decimal("5000.00"), Decimal("-5000.00"), None),
        ("4589761203", 2, Decimal("300000.00"), Decimal("100000.00"), None),
        ("0975312468", 0, Decimal("0"), Decimal("5000.00"), None),
        ("7890654321", 0, Decimal("0"), Decimal("8000.00"), None),
    ]
    letter_of_credit = statements[2].entries[0]
    assert letter_of_credit.remittance == (
        "PROCEEDS OF LETTER OF CREDIT FROM THE ARAMCO OIL CO"
    )
    assert letter_of_credit.bank_reference == "SP4738"
    assert letter_of_credit.end_to_end_id == "YRC065321"
    assert statements[0].currency == "USD"  # neither 02 nor 03 names one


def test_bai2_text_field_without_record_end():
    (statement,) = bai2.parse(read("bai2-moov-spec-section3.txt"))

    (entry,) = statement.entries
    assert (entry.amount, entry.remittance, entry.bank_reference) == (
        Decimal("15000.00"),
        "DEALER PAYMENTS",
        "DD1620",
    )
