from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2c.errors import DomainError
from o2c.money import (
    exact_amount,
    minor_units,
    quantize,
    split_evenly,
    validate_currency,
    zero,
)


@pytest.mark.parametrize(
    ("currency", "decimals"), [("JPY", 0), ("EUR", 2), ("USD", 2), ("KWD", 3)]
)
def test_minor_units_follow_iso_4217(currency, decimals):
    assert minor_units(currency) == decimals


@pytest.mark.parametrize("currency", ["XXY", "EURO", "", "XAU", "XDR", "CLF", "UYW"])
def test_unknown_or_non_invoiceable_currency_is_refused(currency):
    with pytest.raises(DomainError) as refused:
        validate_currency(currency)
    assert refused.value.code == "unknown_currency"
    assert refused.value.field == "currency"


def test_currency_codes_are_normalised():
    assert validate_currency(" eur ") == "EUR"
    assert validate_currency("kwd") == "KWD"


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("10.005", "EUR", Decimal("10.01")),
        ("10.004", "EUR", Decimal("10.00")),
        ("-10.005", "EUR", Decimal("-10.01")),
        ("1234.5", "JPY", Decimal("1235")),
        ("0.0005", "KWD", Decimal("0.001")),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_unit(amount, currency, rounded):
    result = quantize(Decimal(amount), currency)
    assert result == rounded
    assert result.as_tuple().exponent == -minor_units(currency)


def test_zero_carries_the_currency_exponent():
    assert str(zero("JPY")) == "0"
    assert str(zero("EUR")) == "0.00"
    assert str(zero("KWD")) == "0.000"


@pytest.mark.parametrize(
    ("amount", "currency", "parsed"),
    [
        ("10.00", "EUR", "10.00"),
        ("10", "EUR", "10.00"),
        ("10.5", "EUR", "10.50"),
        ("1500", "JPY", "1500"),
        ("1.250", "KWD", "1.250"),
        ("0.125", "KWD", "0.125"),
        (Decimal("99.99"), "EUR", "99.99"),
    ],
)
def test_exact_amount_accepts_amounts_exact_in_the_currency(amount, currency, parsed):
    assert str(exact_amount(amount, currency)) == parsed


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("10.005", "EUR"), ("1500.5", "JPY"), ("0.0001", "KWD"), ("0.001", "EUR")],
)
def test_exact_amount_never_rounds_silently(amount, currency):
    with pytest.raises(DomainError) as refused:
        exact_amount(amount, currency, field="lines[0].unit_price")
    assert refused.value.code == "invalid_amount"
    assert refused.value.field == "lines[0].unit_price"
    assert str(minor_units(currency)) in refused.value.message


@pytest.mark.parametrize(
    "amount", ["abc", "", None, "NaN", "Infinity", "1e400000", "1000000000000000"]
)
def test_exact_amount_refuses_what_is_not_a_finite_number(amount):
    with pytest.raises(DomainError) as refused:
        exact_amount(amount, "EUR")
    assert refused.value.code == "invalid_amount"
    assert refused.value.field == "amount"


def test_exact_amount_with_unknown_currency_names_the_currency():
    with pytest.raises(DomainError) as refused:
        exact_amount("10", "ABC")
    assert refused.value.code == "unknown_currency"


@pytest.mark.parametrize(
    ("total", "weights", "currency", "parts"),
    [
        ("100.00", ["50", "50"], "EUR", ["50.00", "50.00"]),
        ("100.00", ["33.33", "33.33", "33.34"], "EUR", ["33.33", "33.33", "33.34"]),
        ("100", ["33.33", "33.33", "33.34"], "JPY", ["33", "33", "34"]),
        ("1.000", ["33.33", "33.33", "33.34"], "KWD", ["0.333", "0.333", "0.334"]),
        ("0.01", ["50", "50"], "EUR", ["0.01", "0.00"]),
    ],
)
def test_split_evenly_puts_the_rounding_remainder_on_the_last_part(
    total, weights, currency, parts
):
    result = split_evenly(Decimal(total), [Decimal(w) for w in weights], currency)
    assert [str(p) for p in result] == parts
    assert sum(result) == Decimal(total)


@given(
    cents=st.integers(min_value=1, max_value=10**12),
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=6),
    currency=st.sampled_from(["JPY", "EUR", "KWD"]),
)
def test_split_evenly_always_adds_up_exactly(cents, weights, currency):
    total = Decimal(cents).scaleb(-minor_units(currency))
    parts = split_evenly(total, [Decimal(w) for w in weights], currency)
    assert sum(parts) == total
    assert all(part == quantize(part, currency) for part in parts)
