"""Template filters and tags of the web shell: money, organization dates, sorting.

``{{ amount|money:currency }}`` rounds with :func:`o2c.money.quantize` and groups
thousands the way the organization's locale writes numbers (1,234.50 / 1.234,50);
the currency code follows the number so right-aligned columns line up on the
decimal separator. ``{{ d|orgdate }}`` writes dates in the organization's
``date_format`` and shows datetimes in the organization's timezone.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal
from django import template
from django.urls import reverse
from django.utils.dateformat import format as format_date
from django.utils.html import format_html

from o2c.dates import OrgDateInput
from o2c.errors import DomainError
from o2c.money import format_amount as format_money_amount
from o2c.money import known_locale
from o2c.numbers import format_number
from o2c.tenancy import current_organization_or_none

register = template.Library()

EMPTY = "—"


def _locale() -> str:
    organization = current_organization_or_none()
    return organization.locale if organization else "en"


def format_amount(amount, currency: str) -> str:
    """``amount`` rounded to ``currency``'s minor unit with grouped thousands."""
    try:
        return format_money_amount(Decimal(amount), currency, _locale())
    except (InvalidOperation, TypeError, ValueError, DomainError):
        return str(amount)


@register.filter
def money(amount, currency):
    """``1,234.50 EUR``; the code is wrapped for muted styling. None reads as a dash."""
    if amount is None or amount == "":
        return EMPTY
    try:
        negative = Decimal(amount) < 0
    except (InvalidOperation, TypeError, ValueError):
        return str(amount)
    return format_html(
        '<span class="money{}">{} <span class="ccy">{}</span></span>',
        " negative" if negative else "",
        format_amount(amount, currency) if currency else amount,
        currency or "",
    )


@register.filter
def orgdate(value):
    """A date (or datetime, in the organization's timezone) in its date format."""
    if value in (None, ""):
        return EMPTY
    organization = current_organization_or_none()
    date_format = organization.date_format if organization else "Y-m-d"
    if isinstance(value, datetime):
        if organization is not None and value.tzinfo is not None:
            value = value.astimezone(organization.tzinfo)
        return format_date(value, f"{date_format} H:i")
    if isinstance(value, date):
        return format_date(value, date_format)
    return value


@register.filter
def quantity(value):
    """Quantities without trailing zeros: 3, 2.5, 0.125."""
    if value is None:
        return EMPTY
    normalized = Decimal(value).normalize()
    if normalized == normalized.to_integral():
        normalized = normalized.quantize(Decimal(1))
    return format_decimal(
        normalized, locale=known_locale(_locale()), decimal_quantization=False
    )


@register.filter
def typed_number(value):
    """A number as an input shows it for typing over: the organization's locale
    (1.250,00 in de), every decimal kept, so the server reads it back exactly."""
    if value is None or value == "":
        return ""
    return format_number(value)


@register.filter
def percent(value):
    if value is None:
        return EMPTY
    return f"{quantity(value)} %"


@register.inclusion_tag("partials/status_badge.html")
def status_badge(status, label=None):
    """A coloured badge for a document status (``open``, ``paid``, ``void``…)."""
    return {"status": status, "label": label or str(status).replace("_", " ")}


@register.inclusion_tag("partials/sort_header.html", takes_context=True)
def sort_header(context, label, key, numeric=False):
    """A column header that sorts by ``key``; a second click reverses the order."""
    request = context["request"]
    current = context.get("sort")
    direction = context.get("direction", "asc")
    active = current == key
    next_direction = "desc" if active and direction == "asc" else "asc"
    if not active and numeric:
        next_direction = "desc"  # amounts: largest first on the first click
    query = request.GET.copy()
    query["sort"] = key
    query["dir"] = next_direction
    query.pop("cursor", None)
    return {
        "label": label,
        "numeric": numeric,
        "active": active,
        "direction": direction,
        "url": f"{request.path}?{query.urlencode()}",
        "target": context.get("results_target", "#results"),
    }


@register.simple_tag(takes_context=True)
def nav_class(context, url_name):
    """``active`` when the current page lives under the page named ``url_name``."""
    request = context.get("request")
    if request is None:
        return ""
    prefix = reverse(url_name)
    return "active" if request.path.startswith(prefix) else ""


@register.simple_tag(takes_context=True)
def cursor_url(context, url, param, cursor):
    """``url`` with the current query string and ``param`` set to ``cursor``
    (dropped when empty: the first page)."""
    query = context["request"].GET.copy()
    query.pop(param, None)
    if cursor:
        query[param] = cursor
    encoded = query.urlencode()
    return f"{url}?{encoded}" if encoded else url


@register.simple_tag
def days_overdue(due_date, today):
    """Days past ``due_date`` on ``today`` (the organization's date); 0 if not due."""
    if due_date is None or today is None:
        return 0
    return max((today - due_date).days, 0)


@register.filter
def negate(value):
    """A credit shown as a positive amount in a credit column."""
    return -Decimal(value) if value is not None else None


@register.simple_tag
def date_input(name, value="", **attrs):
    """``<input>`` of a date in the organization's format (the forms' own widget,
    :class:`o2c.dates.OrgDateInput`), for inputs a template writes by hand:
    ``{% date_input "as_of" form.as_of.value id="aging-as-of" %}``."""
    attributes = {key.replace("_", "-"): given for key, given in attrs.items()}
    return OrgDateInput().render(name, value or None, attrs=attributes)
