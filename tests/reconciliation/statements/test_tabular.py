"""CSV and XLSX exports read through a bank account's column mapping."""

import io
import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook

from reconciliation.statements import ColumnMapping, StatementError, parse_statement

SPARKASSE = (
    "Kontoumsätze Girokonto DE89370400440532013000\n"
    "\n"
    "Buchungstag;Valuta;Soll;Haben;Zahlungspflichtiger;IBAN;Verwendungszweck 1;"
    "Verwendungszweck 2\n"
    '02.03.2026;03.03.2026;;"1.234,50";Müller GmbH;DE02 1203 0000 0000 2020 51;'
    "RE-2026-0042;Danke\n"
    "02.03.2026;02.03.2026;-45,00;;Telekom;;Rechnung 03/2026;\n"
    ";;;;;;;\n"
    '04.03.2026;04.03.2026;;"1.234,50";Müller GmbH;DE02 1203 0000 0000 2020 51;'
    "RE-2026-0042;Danke\n"
).encode("cp1252")

SPARKASSE_MAPPING = {
    "date_column": "Buchungstag",
    "date_format": "%d.%m.%Y",
    "value_date_column": "Valuta",
    "debit_column": "Soll",
    "credit_column": "Haben",
    "decimal_separator": ",",
    "thousands_separator": ".",
    "currency": "EUR",
    "payer_name_column": "Zahlungspflichtiger",
    "payer_account_column": "IBAN",
    "reference_columns": ["Verwendungszweck 1", "Verwendungszweck 2"],
    "account": "DE89370400440532013000",
    "header_row": 3,
    "encoding": "cp1252",
}


def test_debit_and_credit_columns_with_decimal_comma_and_title_lines():
    mapping = ColumnMapping.from_dict(SPARKASSE_MAPPING)

    (statement,) = parse_statement(SPARKASSE, filename="umsatz.csv", mapping=mapping)

    assert statement.account == "DE89370400440532013000"
    assert [entry.amount for entry in statement.entries] == [
        Decimal("1234.50"),
        Decimal("-45.00"),
        Decimal("1234.50"),
    ]
    first = statement.entries[0]
    assert first.payer_name == "Müller GmbH"
    assert first.payer_account == "DE02120300000000202051"
    assert first.remittance == "RE-2026-0042 Danke"
    assert (first.booking_date, first.value_date) == (
        date(2026, 3, 2),
        date(2026, 3, 3),
    )
    assert first.location == "line 4"
    assert statement.entries[2].location == "line 7"  # the blank row is skipped
    assert (statement.opening_balance, statement.closing_balance) == (None, None)


def test_identical_rows_stay_two_lines_and_a_re_export_keeps_their_references():
    mapping = ColumnMapping.from_dict(SPARKASSE_MAPPING)
    twice = SPARKASSE.replace(b"04.03.2026;04.03.2026", b"02.03.2026;03.03.2026")

    (first_export,) = parse_statement(twice, file_format="csv", mapping=mapping)
    (second_export,) = parse_statement(twice, file_format="csv", mapping=mapping)

    references = [entry.bank_reference for entry in first_export.entries]
    assert len(set(references)) == 3
    assert references == [entry.bank_reference for entry in second_export.entries]


def test_mapping_survives_json_and_refuses_unknown_settings():
    mapping = ColumnMapping.from_dict(SPARKASSE_MAPPING)

    stored = json.loads(json.dumps(mapping.to_dict()))

    assert ColumnMapping.from_dict(stored) == mapping
    with pytest.raises(StatementError, match="Unknown column-mapping settings: colour"):
        ColumnMapping.from_dict({**SPARKASSE_MAPPING, "colour": "red"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"amount_column": "Betrag"}, "not both"),
        ({"debit_column": "", "credit_column": ""}, "amount column"),
        ({"currency": ""}, "currency"),
        ({"thousands_separator": ","}, "thousands separator"),
    ],
)
def test_mappings_that_cannot_work_are_refused(settings, message):
    with pytest.raises(StatementError, match=message):
        ColumnMapping.from_dict({**SPARKASSE_MAPPING, **settings})


def test_delimiter_is_detected_and_currency_read_per_row():
    data = (
        b"Date,Amount,Currency,Payer,Details,Transaction ID\n"
        b"2026-03-02,250.00,USD,Acme Inc,INV-1001,TX1\n"
        b"2026-03-02,-12.5,USD,Bank,Fee,TX2\n"
        b"2026-03-03,1000,GBP,Globex Ltd,INV-1002 INV-1003,TX3\n"
    )
    mapping = ColumnMapping(
        date_column="Date",
        amount_column="Amount",
        currency_column="Currency",
        payer_name_column="Payer",
        reference_columns=["Details"],
        bank_reference_column="Transaction ID",
    )

    statements = parse_statement(data, filename="export.csv", mapping=mapping)

    assert [(s.currency, [e.amount for e in s.entries]) for s in statements] == [
        ("USD", [Decimal("250.00"), Decimal("-12.5")]),
        ("GBP", [Decimal("1000")]),
    ]
    assert statements[1].entries[0].bank_reference == "TX3"


def test_bad_date_names_line_and_column():
    data = b"Date,Amount\n2026-03-02,1.00\n03/02/2026,2.00\n"
    mapping = ColumnMapping(date_column="Date", amount_column="Amount", currency="EUR")

    with pytest.raises(StatementError) as refused:
        parse_statement(data, file_format="csv", mapping=mapping)

    assert refused.value.location == "line 3, column 'Date'"
    assert "%Y-%m-%d" in refused.value.message


def xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Umsätze"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_dates_numbers_and_a_header_below_a_title():
    data = xlsx(
        [
            ["Account statement March 2026"],
            ["Booked", "Amount", "Counterparty", "Reference"],
            [datetime(2026, 3, 2), 1234.56, "Acme Inc", "INV-1001"],
            [datetime(2026, 3, 3), -0.1, "Bank", "Fee"],
            ["2026-03-04", "99.90", "Globex", "INV-1002"],
        ]
    )
    mapping = ColumnMapping(
        date_column="Booked",
        amount_column="Amount",
        payer_name_column="Counterparty",
        reference_columns=["Reference"],
        currency="EUR",
        header_row=2,
        sheet="Umsätze",
    )

    (statement,) = parse_statement(data, mapping=mapping)

    assert [(e.booking_date, e.amount, e.location) for e in statement.entries] == [
        (date(2026, 3, 2), Decimal("1234.56"), "line 3"),
        (date(2026, 3, 3), Decimal("-0.1"), "line 4"),
        (date(2026, 3, 4), Decimal("99.90"), "line 5"),
    ]


def test_xlsx_without_the_mapped_sheet_or_column_is_refused():
    data = xlsx([["Booked", "Amount"], [datetime(2026, 3, 2), 1]])
    mapping = ColumnMapping(
        date_column="Booked", amount_column="Betrag", currency="EUR"
    )

    with pytest.raises(StatementError, match="no column 'Betrag'"):
        parse_statement(data, mapping=mapping)
    with pytest.raises(StatementError, match="no sheet 'March'"):
        parse_statement(
            data,
            mapping=ColumnMapping(
                date_column="Booked",
                amount_column="Amount",
                currency="EUR",
                sheet="March",
            ),
        )


def test_broken_xlsx_is_refused():
    with pytest.raises(StatementError, match="not a readable XLSX"):
        parse_statement(
            b"PK\x03\x04broken",
            mapping=ColumnMapping(date_column="D", amount_column="A", currency="EUR"),
        )
