"""Money helpers: ISO 4217 minor units and the one rounding function.

Minor units come from the ``iso4217`` package (the ISO maintenance agency's table),
not from CLDR, whose "digits" differ from ISO for a few currencies (IQD, for one).
"""

import copy
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_symbol, parse_pattern
from django.utils.translation import gettext as _
from iso4217 import Currency

from o2c.errors import DomainError

# Amount columns hold 18 digits, 3 of them decimals (``orders.models.MONEY``).
MAX_AMOUNT = Decimal(10) ** 15
MAX_MINOR_UNITS = 3


@cache
def minor_units(currency: str) -> int:
    """Number of decimals of ``currency`` (JPY 0, EUR 2, KWD 3)."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        raise DomainError(
            "unknown_currency",
            _("Unknown currency '%(currency)s'.") % {"currency": currency},
            field="currency",
        ) from None
    # Funds and metals (XAU, XDR…) are not invoiced, and the two units of account
    # with 4 decimals (CLF, UYW) would be rounded by the amount columns.
    if exponent is None or exponent > MAX_MINOR_UNITS:
        raise DomainError(
            "unknown_currency",
            _("'%(currency)s' is not a currency invoices can be issued in.")
            % {"currency": currency},
            field="currency",
        )
    return exponent


def validate_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3:
        raise DomainError(
            "unknown_currency",
            _("Unknown currency '%(currency)s'.") % {"currency": currency},
            field="currency",
        )
    minor_units(code)
    return code


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal | int | str, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency``."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def exact_amount(amount, currency: str, *, field: str = "amount") -> Decimal:
    """Parse an amount that must already be exact in ``currency``.

    Input amounts are never rounded silently: 10.005 EUR is an error, not 10.01.
    """
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError, TypeError):
        raise DomainError(
            "invalid_amount",
            _("'%(amount)s' is not a number.") % {"amount": amount},
            field=field,
        ) from None
    if not value.is_finite():
        raise DomainError("invalid_amount", _("Amount must be finite."), field=field)
    if abs(value) >= MAX_AMOUNT:
        raise DomainError(
            "invalid_amount",
            _("Amount must be below %(limit)s.") % {"limit": f"{MAX_AMOUNT:,}"},
            field=field,
        )
    if value != quantize(value, currency):
        raise DomainError(
            "invalid_amount",
            _("%(currency)s amounts have %(decimals)s decimal places; got %(amount)s.")
            % {
                "currency": currency,
                "decimals": minor_units(currency),
                "amount": amount,
            },
            field=field,
        )
    return quantize(value, currency)


def zero(currency: str) -> Decimal:
    return quantize(0, currency)


def split_evenly(
    total: Decimal, weights: list[Decimal], currency: str
) -> list[Decimal]:
    """Split ``total`` by ``weights``; rounding remainder goes to the last part."""
    weight_sum = sum(weights)
    parts = [quantize(total * w / weight_sum, currency) for w in weights[:-1]]
    parts.append(total - sum(parts, Decimal(0)))
    return parts


def format_amount(amount, currency: str, locale_name: str = "en") -> str:
    """``amount`` at ``currency``'s minor unit, thousands grouped as the locale
    writes them (1,234.50 in en, 1.234,50 in de). An unknown locale reads as en."""
    pattern, locale = _amount_format(currency, locale_name or "en")
    return pattern.apply(quantize(amount, currency), locale)


@cache
def _amount_format(currency: str, locale_name: str):
    # Runs and exports format many thousands of amounts: parse each pattern once.
    decimals = minor_units(currency)
    return (
        parse_pattern("#,##0" + ("." + "0" * decimals if decimals else "")),
        known_locale(locale_name),
    )


@cache
def known_locale(name: str) -> Locale:
    """``name`` ("de", "en-GB") as a Babel locale; English when Babel lacks it."""
    try:
        return Locale.parse((name or "en").replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale("en")


def format_money(amount, currency: str, locale_name: str = "en") -> str:
    """``amount`` with its currency as the locale writes money on a document:
    €1,234.56 in en, 1.234,56 € in de, € 1.234,56 in de-AT.

    The symbol and its place come from CLDR (through Babel); the decimals are the
    currency's ISO 4217 minor units, as everywhere else. Where CLDR's symbol is a
    code (KWD), a no-break space keeps it off the digits, as CLDR's currency
    spacing rule asks and Babel does not.
    """
    pattern, locale = _money_format(currency, locale_name or "en")
    text = pattern.apply(
        quantize(amount, currency), locale, currency=currency, currency_digits=False
    )
    symbol = get_currency_symbol(currency, locale=locale)
    if symbol[-1:].isalpha():
        spaced = f"{symbol}\N{NO-BREAK SPACE}"
        text = re.sub(rf"{re.escape(symbol)}(?=\d)", spaced, text)
    return text


@cache
def _money_format(currency: str, locale_name: str):
    locale = known_locale(locale_name)
    pattern = copy.copy(locale.currency_formats["standard"])
    decimals = minor_units(currency)
    pattern.frac_prec = (decimals, decimals)
    return pattern, locale
