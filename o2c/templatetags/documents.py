"""Filters of the documents a customer receives (invoice, credit note and
statement PDFs and emails, dunning letters): amounts and dates in the language of
the document being rendered (see :mod:`o2c.document_language`).

``{{ amount|docmoney:currency }}`` → €1,234.56 / 1.234,56 €;
``{{ amount|docamount:currency }}`` → 1,234.56 / 1.234,56 (a column naming its
currency); ``{{ day|docdate }}`` → December 6, 2026 / 6. Dezember 2026, or the
organization's date format in its own language.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django import template

from o2c.document_language import current_document_language
from o2c.errors import DomainError
from o2c.tenancy import current_organization_or_none

register = template.Library()

EMPTY = "—"


def _language():
    return current_document_language(current_organization_or_none())


@register.filter
def docmoney(amount, currency):
    if amount is None or amount == "":
        return EMPTY
    try:
        return _language().money(Decimal(amount), currency)
    except (InvalidOperation, TypeError, ValueError, DomainError):
        return str(amount)


@register.filter
def docamount(amount, currency):
    if amount is None or amount == "":
        return EMPTY
    try:
        return _language().amount(Decimal(amount), currency)
    except (InvalidOperation, TypeError, ValueError, DomainError):
        return str(amount)


@register.filter
def docdate(value):
    if value in (None, ""):
        return EMPTY
    if isinstance(value, datetime):
        organization = current_organization_or_none()
        if organization is not None and value.tzinfo is not None:
            value = value.astimezone(organization.tzinfo)
        value = value.date()
    if isinstance(value, date):
        return _language().date(value)
    return value
