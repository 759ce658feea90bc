"""Broken, hostile and oversized files: each a clear StatementError, nothing read."""

from pathlib import Path

import pytest

from reconciliation.statements import (
    DEFAULT_MAX_BYTES,
    ColumnMapping,
    StatementError,
    parse_statement,
)

FIXTURES = Path(__file__).parent / "fixtures"
CAMT = (FIXTURES / "oca-camt053-v04-batched.xml").read_bytes()
MT940 = (FIXTURES / "mt940-rabobank-iban.sta").read_bytes()
BAI2 = (FIXTURES / "bai2-moov-sample1.txt").read_bytes()


def refused(data: bytes, **options) -> StatementError:
    with pytest.raises(StatementError) as error:
        parse_statement(data, **options)
    return error.value


def test_truncated_xml_names_the_line():
    error = refused(CAMT[: len(CAMT) // 2])

    assert "malformed" in error.message
    assert error.location.startswith("line ")
    assert int(error.location.split()[1]) > 80


def test_external_entity_is_refused_and_never_read():
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE Document [\n'
        b'  <!ENTITY secret SYSTEM "file:///etc/passwd">\n]>\n'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        b"<BkToCstmrStmt><Stmt><Id>&secret;</Id></Stmt></BkToCstmrStmt></Document>"
    )

    error = refused(xxe)

    assert "DOCTYPE" in error.message
    assert "root:" not in str(error)


def test_billion_laughs_is_refused():
    entities = b"".join(
        b'<!ENTITY lol%d "&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;">' % (i, *[i - 1] * 5)
        for i in range(1, 10)
    )
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY lol0 "lol">'
        + entities
        + b"]><Document>&lol9;</Document>"
    )

    assert "DOCTYPE" in refused(bomb).message


def test_doctype_in_utf16_is_refused_too():
    # The byte search cannot see it; the parsed document's DOCTYPE gives it away.
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE Document [<!ENTITY x "y">]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>'
    ).encode("utf-16")

    assert "DOCTYPE" in refused(xml, file_format="camt").message


def test_xml_that_is_not_camt_is_refused():
    error = refused(
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>'
    )

    assert "pain.001" in error.message


def test_bad_camt_amount_names_the_xml_path():
    broken = CAMT.replace(
        b'<Amt Ccy="CHF">3483.00</Amt>', b'<Amt Ccy="CHF">3483,00</Amt>'
    )

    error = refused(broken)

    assert error.location == "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt"
    assert "3483,00" in error.message


def test_batched_details_that_do_not_add_up_to_their_entry_are_refused():
    broken = CAMT.replace(b">1296.00<", b">1297.00<")

    error = refused(broken)

    assert error.location == "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"
    assert "3484.00" in error.message and "3483.00" in error.message


def test_mt940_with_a_broken_field_61_names_its_line():
    broken = MT940.replace(
        b":61:130102D000000000010,00N154", b":61:1301X2D000000000010;00N154"
    )

    error = refused(broken)

    assert error.location == "line 10"
    assert ":61:" in error.message


def test_mt940_with_an_impossible_date_names_its_line():
    broken = MT940.replace(b":61:130101D", b":61:130231D")

    assert refused(broken).location == "line 6"


def test_bai2_with_a_wrong_account_trailer_count_names_its_line():
    broken = BAI2.replace(b"49,+00000000000834000,14/", b"49,+00000000000834000,15/")

    error = refused(broken)

    assert error.location == "line 16"
    assert "15 records" in error.message and "14" in error.message


def test_bai2_with_a_wrong_control_total_names_its_line():
    broken = BAI2.replace(
        b"98,+00000000001280000,2,25/", b"98,+00000000001280001,2,25/"
    )

    error = refused(broken)

    assert error.location == "line 26"
    assert "1280001" in error.message and "1280000" in error.message


def test_bai2_with_a_wrong_group_count_in_the_file_trailer():
    broken = BAI2.replace(
        b"99,+00000000001280000,1,27/", b"99,+00000000001280000,2,27/"
    )

    assert "counts 2 groups" in refused(broken).message


def test_bai2_detail_with_a_type_code_that_is_neither_credit_nor_debit():
    broken = BAI2.replace(
        b"16,409,000000000002500,V,060316,,,,RETURNED",
        b"16,750,000000000002500,V,060316,,,,RETURNED",
    )

    error = refused(broken)

    assert error.location == "line 5"
    assert "750" in error.message


def test_csv_whose_mapping_does_not_fit_names_the_missing_column():
    data = b"Datum;Betrag;Text\n01.02.2026;100,00;RE-1001\n"
    mapping = ColumnMapping(
        date_column="Buchungstag",
        date_format="%d.%m.%Y",
        amount_column="Betrag",
        currency="EUR",
        reference_columns=["Verwendungszweck"],
    )

    error = refused(data, filename="konto.csv", mapping=mapping)

    assert "'Buchungstag'" in error.message and "'Verwendungszweck'" in error.message
    assert error.location == "line 1"


def test_csv_with_a_bad_amount_names_line_and_column():
    data = b"Datum;Betrag\n01.02.2026;100,00\n02.02.2026;1O0,00\n"
    mapping = ColumnMapping(
        date_column="Datum",
        date_format="%d.%m.%Y",
        amount_column="Betrag",
        decimal_separator=",",
        currency="EUR",
    )

    error = refused(data, file_format="csv", mapping=mapping)

    assert error.location == "line 3, column 'Betrag'"
    assert "1O0,00" in error.message


def test_csv_without_a_mapping_is_refused():
    assert "column mapping" in refused(b"a;b\n1;2\n", file_format="csv").message


def test_file_over_the_default_size_limit_is_refused_before_it_is_read():
    error = refused(b" " * (DEFAULT_MAX_BYTES + 1) + CAMT)

    assert "limited to 20 MB" in error.message


def test_the_size_limit_is_a_setting(settings):
    settings.STATEMENT_MAX_BYTES = 1000

    assert "limited to 1000 bytes" in refused(CAMT).message


def test_statement_whose_balances_do_not_add_up_is_refused_with_the_figures():
    broken = MT940.replace(
        b":62F:C130108EUR000000000965,00", b":62F:C130108EUR000000000964,00"
    )

    error = refused(broken)

    assert error.message == (
        "Opening balance 1000.00 plus entries -35.00 is 965.00, but the closing "
        "balance is 964.00."
    )


def test_unrecognised_file_is_refused():
    assert "not a statement format" in refused(b"hello world").message


def test_empty_file_is_refused():
    assert "empty" in refused(b"\n\n").message
