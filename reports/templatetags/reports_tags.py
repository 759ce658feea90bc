"""Filters of the report pages: dense tables print the currency once, in the
header, and each cell as a bare number at the currency's minor unit."""

from django import template
from django.utils.html import format_html

from o2c.templatetags.o2c_tags import EMPTY, format_amount

register = template.Library()


@register.filter
def amount(value, currency):
    """``1,234.50`` (grouped in the organization's locale); zero prints a dash."""
    if value in (None, "") or value == 0:
        return format_html('<span class="muted">{}</span>', EMPTY)
    return format_html(
        '<span class="money{}">{}</span>',
        " negative" if value < 0 else "",
        format_amount(value, currency),
    )


@register.filter
def days(value):
    """A figure in days (or percent) with one decimal; None prints a dash."""
    if value is None:
        return EMPTY
    return f"{value:.1f}"
