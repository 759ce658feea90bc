"""Known entries written in each format read back as the same entries.

The writers (``writers.py``) follow the published layouts; hypothesis varies
amounts, signs, reversals, dates, remittance text, payers and batching.
"""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.statements import ColumnMapping, parse_statement
from reconciliation.statements.base import ParsedEntry, ParsedStatement

from .writers import write_bai2, write_camt053, write_csv, write_mt940

ROUND_TRIP = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

words = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12
)
sentences = st.lists(words, min_size=1, max_size=12).map(" ".join)
names = st.lists(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ", min_size=2, max_size=10),
    min_size=1,
    max_size=4,
).map(" ".join)
amounts = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2
)
ibans = st.from_regex(r"DE[0-9]{20}", fullmatch=True)
bics = st.sampled_from(["COBADEFFXXX", "DEUTDEFF", "INGBNL2A", ""])
days = st.integers(min_value=0, max_value=3000).map(
    lambda n: date(2020, 1, 1) + timedelta(days=n)
)


@st.composite
def entries(draw, *, booking_date=None, references=True):
    amount = draw(amounts) * draw(st.sampled_from([1, -1]))
    booked = booking_date or draw(days)
    return ParsedEntry(
        booking_date=booked,
        value_date=booked + timedelta(days=draw(st.integers(0, 3))),
        amount=amount,
        currency="EUR",
        remittance=draw(sentences),
        end_to_end_id=draw(st.from_regex(r"E2E[0-9A-Z]{1,12}", fullmatch=True)),
        payer_name=draw(names).strip()[:54],
        payer_account=draw(ibans),
        payer_bic=draw(bics),
        is_reversal=draw(st.booleans()),
    )


def statement_of(lines: list[ParsedEntry], opening: Decimal) -> ParsedStatement:
    movement = sum((line.amount for line in lines), Decimal(0))
    first = min((line.booking_date for line in lines), default=date(2026, 1, 1))
    last = max((line.booking_date for line in lines), default=first)
    return ParsedStatement(
        account="DE89370400440532013000",
        currency="EUR",
        statement_id="STMT2026",
        opening_balance=opening,
        closing_balance=opening + movement,
        opening_date=first,
        closing_date=last,
        entries=lines,
    )


def without_location(parsed: list[ParsedEntry]) -> list[ParsedEntry]:
    return [replace(entry, location="") for entry in parsed]


@st.composite
def camt_statements(draw):
    lines = []
    for batch, size in enumerate(draw(st.lists(st.integers(1, 3), max_size=6)), 1):
        booked = draw(days)
        reversal = draw(st.booleans())
        for _ in range(size):
            entry = draw(entries(booking_date=booked))
            lines.append(
                replace(
                    entry,
                    # One Ntry shares its dates and reversal flag.
                    value_date=booked,
                    is_reversal=reversal,
                    entry_reference=f"NTRY{batch:04d}",
                    structured_reference=draw(
                        st.sampled_from(["", "RF18539007547034"])
                    ),
                    transaction_code="",
                )
            )
    return statement_of(lines, draw(amounts))


def expected_camt(statement: ParsedStatement) -> list[ParsedEntry]:
    sizes = {}
    for entry in statement.entries:
        sizes[entry.entry_reference] = sizes.get(entry.entry_reference, 0) + 1
    expected, position = [], {}
    for entry in statement.entries:
        reference = entry.entry_reference
        position[reference] = position.get(reference, 0) + 1
        batched = sizes[reference] > 1
        expected.append(
            replace(
                entry,
                bank_reference=f"{reference}/{position[reference]}"
                if batched
                else reference,
            )
        )
    return expected


@ROUND_TRIP
@given(statement=camt_statements(), version=st.sampled_from([2, 8]))
def test_camt053_round_trip(statement, version):
    (parsed,) = parse_statement(write_camt053(statement, version=version))

    assert without_location(parsed.entries) == expected_camt(statement)
    assert (parsed.opening_balance, parsed.closing_balance) == (
        statement.opening_balance,
        statement.closing_balance,
    )


@st.composite
def mt940_statements(draw):
    count = draw(st.integers(1, 3))
    statements, opening = [], draw(amounts)
    for number in range(count):
        lines = [
            replace(
                draw(entries()),
                bank_reference=f"B{number}X{index:05d}",
                entry_reference=draw(st.sampled_from(["", "KREF42"])),
                transaction_code="166",
            )
            for index in range(draw(st.integers(0, 5)))
        ]
        statement = statement_of(lines, opening)
        statements.append(statement)
        opening = statement.closing_balance
    return statements


@ROUND_TRIP
@given(statements=mt940_statements(), encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_mt940_round_trip(statements, encoding):
    parsed = parse_statement(write_mt940(statements, encoding=encoding))

    assert [without_location(s.entries) for s in parsed] == [
        s.entries for s in statements
    ]
    assert [s.closing_balance for s in parsed] == [
        s.closing_balance for s in statements
    ]


@st.composite
def bai2_statements(draw):
    statements = []
    for number in range(draw(st.integers(1, 3))):
        booked = draw(days)
        lines = [
            replace(
                draw(entries(booking_date=booked)),
                bank_reference=f"BR{number}{index:04d}",
                value_date=draw(st.sampled_from([None, booked])),
                # BAI2 carries text, references and the type code only.
                payer_name="",
                payer_account="",
                payer_bic="",
                is_reversal=False,
                remittance=draw(sentences).upper(),
            )
            for index in range(draw(st.integers(0, 5)))
        ]
        lines = [
            replace(line, transaction_code="115" if line.amount > 0 else "475")
            for line in lines
        ]
        statement = statement_of(lines, draw(amounts))
        statement.opening_date = statement.closing_date = booked
        statements.append(statement)
    return statements


@ROUND_TRIP
@given(statements=bai2_statements())
def test_bai2_round_trip(statements):
    parsed = parse_statement(write_bai2(statements))

    assert [without_location(s.entries) for s in parsed] == [
        s.entries for s in statements
    ]
    assert [(s.opening_balance, s.closing_balance) for s in parsed] == [
        (s.opening_balance, s.closing_balance) for s in statements
    ]


GERMAN_EXPORT = ColumnMapping(
    date_column="Buchungstag",
    date_format="%d.%m.%Y",
    amount_column="Betrag",
    decimal_separator=",",
    thousands_separator=".",
    currency_column="Währung",
    payer_name_column="Auftraggeber",
    payer_account_column="IBAN",
    reference_columns=["Zweck"],
    bank_reference_column="Ref",
    header_row=2,
)


@ROUND_TRIP
@given(
    lines=st.lists(entries(), max_size=8).map(
        lambda found: [
            replace(
                entry,
                value_date=None,
                end_to_end_id="",
                payer_bic="",
                is_reversal=False,
                bank_reference=f"CSV{index}",
            )
            for index, entry in enumerate(found)
        ]
    )
)
def test_csv_round_trip(lines):
    data = write_csv(lines)

    if not lines:
        return
    parsed = parse_statement(data, filename="umsaetze.csv", mapping=GERMAN_EXPORT)

    assert [without_location(s.entries) for s in parsed] == [lines]
