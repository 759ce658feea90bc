"""The language of what a customer receives: invoices and credit notes (PDF and
email), statements of account, dunning letters.

A document speaks its customer's language (``Customer.language``: "de", "de-AT")
when the platform has a catalogue for it (``settings.LANGUAGES``: English, German,
French); otherwise the organization's locale; otherwise English. Every renderer of
such a document enters :func:`speaking` around its rendering, so the labels
(gettext), the amounts and the dates all follow the same choice:

- amounts with their currency as that locale writes money on a document
  (€1,234.56 in English, 1.234,56 € in German), at the currency's ISO 4217 minor
  units (:func:`o2c.money.format_money`);
- dates in the organization's date format when the document is in the
  organization's own language (its house style: 06.12.2026 for a German
  organization writing "d.m.Y"), and otherwise as the customer's language writes
  them in full (6. Dezember 2026, December 6, 2026), so no reader takes 03/02 for
  the 3rd of February.

The Babel locale keeps the customer's region (de-AT writes € 1.234,56); a customer
whose language has no region borrows the organization's when they share the
language (an en-GB organization writes 6 December 2026 to its "en" customers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal
from django.utils import dateformat, translation

from o2c.models import Organization
from o2c.money import format_amount, format_money, known_locale

_speaking: ContextVar[DocumentLanguage | None] = ContextVar(
    "document_language", default=None
)


@dataclass(frozen=True)
class DocumentLanguage:
    #: The catalogue the labels come from: "en", "de", "fr".
    language: str
    #: The locale numbers and dates are written in: "de", "de-AT", "en-GB".
    locale: str
    #: The organization's date format, when the document is in its language.
    date_format: str | None = None

    def money(self, amount, currency: str) -> str:
        """``amount`` with its currency: €1,234.56 / 1.234,56 €."""
        return format_money(amount, currency, self.locale)

    def amount(self, amount, currency: str) -> str:
        """``amount`` without its currency, for a column whose heading names it."""
        return format_amount(amount, currency, self.locale)

    def number(self, value: Decimal) -> str:
        """A quantity or rate without trailing zeros (2.000 → 2, 7.500 → 7,5)."""
        return format_decimal(value, locale=known_locale(self.locale))

    def date(self, value: date) -> str:
        if self.date_format:
            return dateformat.format(value, self.date_format)
        return format_date(value, "long", locale=known_locale(self.locale))


def supported_language(tag: str | None) -> str | None:
    """The catalogue for ``tag`` ("de-AT" → "de", "en_GB" → "en"); None if the
    platform has none."""
    tag = (tag or "").strip().replace("_", "-").lower()
    if not tag:
        return None
    try:
        return translation.get_supported_language_variant(tag)
    except LookupError:
        return None


def _tag(value: str | None) -> str:
    """A language tag as Babel and Django spell it: de_at, DE-AT → de-AT."""
    language, _, region = (value or "").strip().replace("_", "-").partition("-")
    return f"{language.lower()}-{region.upper()}" if region else language.lower()


def document_language(language: str, organization: Organization) -> DocumentLanguage:
    """What a customer whose language is ``language`` reads from ``organization``."""
    organization_tag = _tag(organization.locale)
    organization_language = supported_language(organization_tag)
    customer_tag = _tag(language)
    chosen = supported_language(customer_tag)
    if chosen is not None:
        locale = customer_tag
        if "-" not in locale and organization_language == chosen:
            locale = organization_tag  # "en" customers of an en-GB organization
    elif organization_language is not None:
        chosen, locale = organization_language, organization_tag
    else:
        chosen, locale = "en", "en"
    house_style = chosen == (organization_language or "en")
    return DocumentLanguage(
        language=chosen,
        locale=locale,
        date_format=organization.date_format if house_style else None,
    )


@contextmanager
def speaking(language: str, organization: Organization) -> Iterator[DocumentLanguage]:
    """Render a customer's document inside this: gettext, amounts and dates (the
    ``documents`` template filters) all in the customer's language."""
    chosen = document_language(language, organization)
    token = _speaking.set(chosen)
    try:
        with translation.override(chosen.language):
            yield chosen
    finally:
        _speaking.reset(token)


def speaking_now() -> DocumentLanguage | None:
    """The language of the document or customer page being rendered, if any."""
    return _speaking.get()


def current_document_language(organization: Organization | None) -> DocumentLanguage:
    """The language of the document being rendered; outside one, the
    organization's own (English without an organization)."""
    chosen = _speaking.get()
    if chosen is not None:
        return chosen
    if organization is None:
        return DocumentLanguage(language="en", locale="en")
    return document_language("", organization)
