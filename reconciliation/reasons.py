"""The matching engine's reasons in the reader's language.

The engine writes its reasons as English sentences: on the statement line
(``match_reason``, joined by "; "), on each suggestion (``reasons``) and in the
audit trail; the API returns them as stored, in English. Pages translate them
when they show them: each sentence the engine writes is recognised by a pattern
and rendered through gettext with its figures (invoice numbers, amounts, accounts,
dates) kept as they are. A reason a person typed, or one no pattern knows, is
shown as stored.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

_DATE = r"(?P<date>\d{4}-\d{2}-\d{2})"

PATTERNS = [
    # How the line named the invoices.
    (
        r"payment reference names (?P<invoices>.+)",
        _("payment reference names %(invoices)s"),
    ),
    (
        r"invoice number in the text names (?P<invoices>.+)",
        _("invoice number in the text names %(invoices)s"),
    ),
    (
        r"a number in the text names (?P<invoices>.+)",
        _("a number in the text names %(invoices)s"),
    ),
    (
        r"amount equals the open amount \((?P<amount>[^)]+)\)",
        _("amount equals the open amount (%(amount)s)"),
    ),
    (
        r"amount equals the open amount of (?P<invoice>\S+)",
        _("amount equals the open amount of %(invoice)s"),
    ),
    (
        r"overpaid by (?P<amount>.+); the rest stays on account",
        _("overpaid by %(amount)s; the rest stays on account"),
    ),
    (
        r"short by (?P<amount>.+), within tolerance: written off",
        _("short by %(amount)s, within tolerance: written off"),
    ),
    (
        r"short by (?P<amount>.+), within tolerance: left open",
        _("short by %(amount)s, within tolerance: left open"),
    ),
    (
        r"pays (?P<amount>.+) of (?P<total>.+) open \(partial payment\)",
        _("pays %(amount)s of %(total)s open (partial payment)"),
    ),
    (r"payer name matches the customer", _("payer name matches the customer")),
    (
        r"payer account (?P<account>\S+) is the customer's",
        _("payer account %(account)s is the customer's"),
    ),
    (
        r"payer account (?P<account>\S+) belongs to (?P<customer>\S+)",
        _("payer account %(account)s belongs to %(customer)s"),
    ),
    (
        r"payer account (?P<account>\S+) is known for (?P<customer>\S+)",
        _("payer account %(account)s is known for %(customer)s"),
    ),
    (r"amount is the sum of (?P<invoices>.+)", _("amount is the sum of %(invoices)s")),
    (
        r"no open invoice or combination matches: put on account",
        _("no open invoice or combination matches: put on account"),
    ),
    (
        r"the only open invoice of this amount",
        _("the only open invoice of this amount"),
    ),
    (
        r"no open invoice matches the reference, payer or amount",
        _("no open invoice matches the reference, payer or amount"),
    ),
    (
        r"invoice (?P<invoice>\S+) is in (?P<currency>[A-Z]{3}); "
        r"the payment is in (?P<payment_currency>[A-Z]{3})",
        _("invoice %(invoice)s is in %(currency)s; the payment is in "
          "%(payment_currency)s"),
    ),
    (
        r"invoice (?P<invoice>\S+) is paid \(a second payment\?\)",
        _("invoice %(invoice)s is paid (a second payment?)"),
    ),
    (r"invoice (?P<invoice>\S+) is draft", _("invoice %(invoice)s is a draft")),
    (r"invoice (?P<invoice>\S+) is void", _("invoice %(invoice)s is void")),
    (r"invoice (?P<invoice>\S+) is open", _("invoice %(invoice)s is open")),
    (
        r"invoice (?P<invoice>\S+) is partially paid",
        _("invoice %(invoice)s is partially paid"),
    ),
    (r"invoice (?P<invoice>\S+) is paid", _("invoice %(invoice)s is paid")),
    (
        r"a reversal of an outgoing payment, not a receipt",
        _("a reversal of an outgoing payment, not a receipt"),
    ),
    (r"nothing to apply", _("nothing to apply")),
    (r"no invoice to apply to", _("no invoice to apply to")),
    (
        r"best match (?P<confidence>\d+)% is below the threshold of "
        r"(?P<threshold>\d+)%",
        _("best match %(confidence)s%% is below the threshold of %(threshold)s%%"),
    ),
    (
        r"best match leads the next by (?P<lead>-?\d+) points, "
        r"less than the margin of (?P<margin>\d+)",
        _("best match leads the next by %(lead)s points, less than the margin of "
          "%(margin)s"),
    ),
    (
        r"applying the best match failed: (?P<error>.+)",
        _("applying the best match failed: %(error)s"),
    ),
    (r"split by hand", _("split by hand")),
    (r"put on account by hand", _("put on account by hand")),
    (
        r"The bank reversed a credit that is not on this account's statements\.",
        _("The bank reversed a credit that is not on this account's statements."),
    ),
    (
        rf"Reversed by the bank on {_DATE}\.",
        _("Reversed by the bank on %(date)s."),
    ),
    (
        rf"Reverses the credit of {_DATE}\.",
        _("Reverses the credit of %(date)s."),
    ),
]  # fmt: skip

_COMPILED = [(re.compile(pattern), words) for pattern, words in PATTERNS]


def reason_display(reason: str) -> str:
    """One stored reason sentence in the active language (as stored if unknown)."""
    text = (reason or "").strip()
    for pattern, words in _COMPILED:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        values = match.groupdict()
        return str(words) % values if values else str(words)
    return reason


def reasons_display(text: str) -> str:
    """A line's ``match_reason`` (sentences joined by "; ") in the active language."""
    if not text:
        return ""
    return "; ".join(reason_display(part) for part in text.split("; "))
