"""Numbers as a person types and reads them: in the organization's locale.

Pages show amounts as the organization's locale writes them (1,234.50 in en,
1.234,50 in de, through :func:`o2c.money.format_amount`); every number *input* of
a browser form reads and shows them the same way through one form field,
:class:`OrgDecimalField`, and its widget, :class:`OrgNumberInput`. The customer
portal's pages speak the customer's locale (:mod:`o2c.document_language`), and
so do its inputs.

Reading (:func:`parse_number`) is Babel's strict parse in the locale first, so in
de "1.250" is 1250 and misplaced grouping ("1,25.0") is refused rather than
guessed at; when that fails, the plain form a spreadsheet or the API writes
("1250.00", "-12.5") is accepted, so in de "12.5" is 12.5. Nothing else is: no
exponents, no NaN, no grouping the locale does not use.

Writing an initial value back into an input (:func:`format_number`) keeps every
decimal the value has (a quantity of 1.250 stays 1,250 in de, never 1.25 or 1250),
so a form shown and saved unchanged saves the same number. The REST API is not
concerned: it reads and writes plain numbers whatever the locale.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.numbers import NumberFormatError, parse_decimal
from django import forms
from django.utils.translation import gettext_lazy

from o2c.document_language import speaking_now
from o2c.money import known_locale
from o2c.tenancy import current_organization_or_none

# What a keyboard types for the locale's grouping symbol: fr groups with a narrow
# no-break space, sv with a no-break space, de-CH with an apostrophe.
_LOOK_ALIKE_GROUPS = (" \u00a0\u202f", "'\u2019")
_MINUS_SIGNS = "-\u2212\u2013"  # hyphen-minus, minus sign (sv writes it), en dash
_SIGNS = _MINUS_SIGNS + "+"
_PLAIN = re.compile(r"(\d+(\.\d*)?|\.\d+)\Z")
EXAMPLE = Decimal("1250.00")


class NotANumber(ValueError):
    """The text is no number in the locale nor in the plain form."""


def organization_locale() -> Locale:
    """The locale numbers are read and shown in: the customer's on the pages a
    customer reads (the portal speaks their language, its amounts too), else the
    current organization's; English without one."""
    language = speaking_now()
    if language is not None:
        return known_locale(language.locale)
    organization = current_organization_or_none()
    return known_locale(organization.locale if organization else "en")


def _locale(locale_name: str | None) -> Locale:
    return known_locale(locale_name) if locale_name else organization_locale()


def _symbols(locale: Locale) -> dict:
    return locale.number_symbols[locale.default_numbering_system]


def parse_number(text, locale_name: str | None = None) -> Decimal:
    """``text`` as the locale writes numbers, else in the plain form.

    Raises :class:`NotANumber` for anything else. ``locale_name`` defaults to the
    current organization's locale.
    """
    locale = _locale(locale_name)
    negative, body = _split_sign(str(text).strip())
    # Babel reads "1e5", "NaN", "Infinity" and a second sign ("--5"); an amount is
    # one sign, digits and separators.
    if not body or any(c.isalpha() or c in _SIGNS for c in body):
        raise NotANumber(text)
    try:
        value = parse_decimal(_with_locale_group(body, locale), locale, strict=True)
    except NumberFormatError:
        if not _PLAIN.match(body):
            raise NotANumber(text) from None
        value = Decimal(body)
    except InvalidOperation:
        raise NotANumber(text) from None
    if not value.is_finite():
        raise NotANumber(text)
    return -value if negative else value


def _split_sign(text: str) -> tuple[bool, str]:
    """A leading sign apart from the digits: Babel's parse knows only "-", and a
    locale whose minus is U+2212 (sv) would refuse its own negative numbers."""
    if text[:1] and text[0] in _MINUS_SIGNS:
        return True, text[1:].lstrip()
    if text.startswith("+"):
        return False, text[1:].lstrip()
    return False, text


def _with_locale_group(body: str, locale: Locale) -> str:
    group = _symbols(locale)["group"]
    for look_alikes in _LOOK_ALIKE_GROUPS:
        if group in look_alikes:
            for character in look_alikes:
                body = body.replace(character, group)
    return body


def format_number(value, locale_name: str | None = None) -> str:
    """``value`` as the locale writes it, grouped, with exactly the decimals it
    has: Decimal("1.250") is "1.250" in en and "1,250" in de, never rounded."""
    value = Decimal(value)
    decimals = max(0, -value.as_tuple().exponent)
    locale = _locale(locale_name)
    return _pattern(locale, decimals).apply(value, locale, decimal_quantization=False)


@cache
def _pattern(locale: Locale, decimals: int):
    # The locale's own pattern (its grouping), so that its strict parse reads the
    # text back; only the decimals are the value's.
    pattern = copy.copy(locale.decimal_formats[None])
    pattern.frac_prec = (decimals, decimals)
    return pattern


def number_example(locale_name: str | None = None) -> str:
    """1,250.00 in en, 1.250,00 in de: what an error message shows."""
    return format_number(EXAMPLE, locale_name)


class OrgNumberInput(forms.TextInput):
    """A text input showing a number as the organization writes it.

    A text input, not ``<input type=number>``: a number input submits the plain
    form whatever its display, and the browser's locale is not the organization's.
    A value as typed (a string) is shown back unchanged.
    """

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", "class": "num", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return format_number(value)
        return super().format_value(value)


class OrgDecimalField(forms.DecimalField):
    """A number typed as the organization's locale writes it, or plain."""

    widget = OrgNumberInput
    default_error_messages = {
        "invalid": gettext_lazy("Enter a number, e.g. %(example)s."),
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            value = Decimal(value)
            if value.is_finite():
                return value
        try:
            return parse_number(value)
        except NotANumber:
            raise forms.ValidationError(
                self.error_messages["invalid"],
                code="invalid",
                params={"example": number_example()},
            ) from None
