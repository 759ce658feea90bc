"""Dates as a person types and reads them: in the organization's date format.

An organization writes dates one way (``Organization.date_format``: 31.12.2026,
31/12/2026, 12/31/2026 or 2026-12-31). Tables print them so (the ``orgdate``
filter); every date *input* shows and accepts the same format through one form
field, :class:`OrgDateField`, and its widget, :class:`OrgDateInput`. ISO
(2026-12-31) is always accepted too, so a pasted ISO date or a bookmarked URL
keeps working. A text input, not ``<input type=date>``: a native date input
shows the browser's locale, never the organization's format.

Pages that build their inputs by hand render the same widget with
``{% date_input %}`` (``o2c_tags``); views reading a date from a query string
parse it with :func:`parse_org_date`, which raises a :class:`DomainError`
naming the field and the format expected.
"""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.forms.utils import pretty_name
from django.utils import dateformat
from django.utils.translation import gettext as _

from o2c.errors import DomainError
from o2c.tenancy import current_organization_or_none

ISO = "Y-m-d"
# Django's date format letters of the organization formats → strptime directives
# and the hint a person reads in the empty input.
_DIRECTIVES = {"d": ("%d", "DD"), "m": ("%m", "MM"), "Y": ("%Y", "YYYY")}


def organization_date_format() -> str:
    """The current organization's date format (Django letters), ISO without one."""
    organization = current_organization_or_none()
    return organization.date_format if organization else ISO


def strptime_format(django_format: str) -> str:
    return "".join(_DIRECTIVES.get(c, (c, c))[0] for c in django_format)


def format_hint(django_format: str | None = None) -> str:
    """``DD.MM.YYYY`` for ``d.m.Y``: what the input's placeholder and errors say."""
    django_format = django_format or organization_date_format()
    return "".join(_DIRECTIVES.get(c, (c, c))[1] for c in django_format)


def format_org_date(value) -> str:
    """A date as the organization writes it; other values as they are."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return dateformat.format(value, organization_date_format())
    if isinstance(value, str) and value:
        try:
            return dateformat.format(
                date.fromisoformat(value), organization_date_format()
            )
        except ValueError:
            return value  # as typed, so a refused input is shown back unchanged
    return "" if value is None else str(value)


def format_org_month(value: date) -> str:
    """A month as the organization writes dates without the day: 12.2026,
    12/2026, 2026-12 (chart axes of monthly series)."""
    month_format = organization_date_format().replace("d", "").strip("./-")
    for separator in "./-":
        month_format = month_format.replace(separator * 2, separator)
    return dateformat.format(value, month_format)


def accepted_formats() -> list[str]:
    """strptime formats an input accepts: the organization's, then ISO."""
    formats = [strptime_format(organization_date_format())]
    if "%Y-%m-%d" not in formats:
        formats.append("%Y-%m-%d")
    return formats


def _parse(text: str) -> date | None:
    for pattern in accepted_formats():
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 (a date)
        except ValueError:
            continue
    return None


def invalid_message(text: str, label: str = "") -> str:
    hint = format_hint()
    expected = (
        hint
        if hint == "YYYY-MM-DD"
        else _("%(format)s (or YYYY-MM-DD)") % {"format": hint}
    )
    template = _("'%(value)s' is not a date in the calendar; write it as %(format)s.")
    message = template % {"value": text, "format": expected}
    return f"{label}: {message}" if label else message


def parse_org_date(value, *, field: str, label: str = "") -> date | None:
    """A typed date in the organization's format or ISO; empty → ``None``."""
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    day = _parse(text)
    if day is None:
        raise DomainError(
            "invalid_date", invalid_message(text, label or _label(field)), field=field
        )
    return day


def _label(field: str) -> str:
    return field.replace("_", " ").capitalize()


class OrgDateInput(forms.TextInput):
    """A text input showing the organization's format, with it as placeholder
    (``data-date-format`` carries the format for scripts and tests)."""

    def __init__(self, attrs=None):
        base = {"autocomplete": "off", "inputmode": "numeric", "class": "date-input"}
        super().__init__({**base, **(attrs or {})})

    def format_value(self, value):
        return format_org_date(value) or None

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        widget_attrs.setdefault("placeholder", format_hint())
        widget_attrs["data-date-format"] = organization_date_format()
        widget_attrs.setdefault("size", 11)
        return context


class OrgDateField(forms.DateField):
    """A real calendar date (2026-02-30 is refused) between 1900 and 2999, typed in
    the organization's format or ISO; the error names the field and the format."""

    MIN = date(1900, 1, 1)
    MAX = date(2999, 12, 31)
    widget = OrgDateInput

    def get_bound_field(self, form, field_name):
        # Errors name the field; a field declared without a label takes its name's.
        if self.label is None:
            self.label = pretty_name(field_name)
        return super().get_bound_field(form, field_name)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            day = value
        else:
            text = str(value).strip()
            day = _parse(text)
            if day is None:
                raise forms.ValidationError(
                    invalid_message(text, str(self.label or "")), code="invalid"
                )
        if not self.MIN <= day <= self.MAX:
            raise forms.ValidationError(
                _("%(label)s: must be between %(first)s and %(last)s.")
                % {
                    "label": self.label or _("Date"),
                    "first": format_org_date(self.MIN),
                    "last": format_org_date(self.MAX),
                },
                code="date_out_of_range",
            )
        return day
