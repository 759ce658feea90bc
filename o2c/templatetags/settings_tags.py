"""Template filters of the settings pages and of the reports' "missing FX rate"
messages, which link to the FX rates page prefilled with the rate to add."""

import re
from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from o2c.fx import rate_text
from o2c.templatetags.o2c_tags import money

register = template.Library()

# The wording of reports.selectors.common.FxRates.quote.
MISSING_RATE = re.compile(r"No FX rate for ([A-Z]{3}) on or before (\d{4}-\d{2}-\d{2})")


@register.filter
def normalize_rate(rate) -> str:
    return rate_text(Decimal(rate))


@register.filter
def thousand_in(rate, currency: str):
    """What 1,000 units are worth in ``currency``: a rate typed 100 times too
    large shows at a glance."""
    return money(Decimal(1000) * Decimal(rate), currency)


@register.simple_tag(takes_context=True)
def fx_rate_link(context, message: str):
    """A report's message, plus a link to add the missing rate when it is one."""
    match = MISSING_RATE.search(message or "")
    if match is None:
        return message
    request = context.get("request")
    query = {"new_currency": match.group(1), "new_date": match.group(2)}
    if request is not None:
        query["next"] = request.get_full_path()
    return format_html(
        '{} <a class="fx-rate-link" href="{}?{}">Add the {} rate</a>',
        message,
        reverse("fx-rates"),
        urlencode(query),
        match.group(1),
    )
