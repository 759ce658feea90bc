"""Payment references of invoices and the account customers pay into.

Each issued invoice carries an ISO 11649 creditor reference ("RF" + two check digits
+ the invoice number without separators), printed on the invoice and the statement
of account, so that the bank hands it back in the remittance of the payment and the
matching engine can find the invoice without guessing. Check digits come from
python-stdnum's ``iso11649`` module.

**Where the pay-to account comes from.** Bank accounts belong to reconciliation,
which sits above invoicing in the layers, so invoicing cannot import it. Invoicing
instead offers a seam: reconciliation registers a provider at start-up
(:func:`register_pay_to_provider`, called from its ``AppConfig.ready``) that
returns the organization's default bank account as a plain :class:`PayTo`. Storing
a copy of the account on the organization would need a second writer to keep in
step; the seam reads the one row that is edited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

_RF_START = re.compile(r"RF\d\d")


@dataclass(frozen=True)
class PayTo:
    """The account to pay into, as printed on documents."""

    account_name: str
    iban: str = ""
    bic: str = ""
    account_number: str = ""
    routing_number: str = ""

    @property
    def iban_display(self) -> str:
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))


_pay_to_provider: Callable[[], PayTo | None] | None = None


def register_pay_to_provider(provider: Callable[[], PayTo | None]) -> None:
    """Called once by the app that owns bank accounts (reconciliation)."""
    global _pay_to_provider
    _pay_to_provider = provider


def pay_to() -> PayTo | None:
    """The current organization's account to pay into, or None if it has none."""
    return _pay_to_provider() if _pay_to_provider else None


def reference_body(number: str) -> str:
    """The invoice number as it travels in a reference: letters and digits only."""
    return re.sub(r"[^0-9A-Za-z]", "", number or "").upper()


def payment_reference(invoice) -> str:
    """The invoice's ISO 11649 creditor reference, printed in groups of four
    ("RF47 INV0 0012 3"); empty for an invoice without a number (a draft)."""
    body = reference_body(invoice.number)
    if not body or len(body) > 21:
        return ""
    # ISO 11649 check digits are ISO 7064 MOD 97-10 over the body followed by "RF".
    check_digits = mod_97_10.calc_check_digits(f"{body}RF")
    return iso11649.format(f"RF{check_digits}{body}")


def invoice_number_from_reference(text: str) -> str | None:
    """The reference body (invoice number without separators) of a valid creditor
    reference in ``text``, or None; a reference whose check digits fail is ignored,
    since a garbled reference must not name the wrong invoice."""
    for candidate in references_in_text(text):
        return candidate
    return None


def references_in_text(text: str) -> list[str]:
    """Bodies of every valid creditor reference in ``text``, in order.

    A reference is printed in groups of four, which payers keep, close up or break
    elsewhere; it starts at a word beginning "RF" + two digits and runs over the
    following words. The longest run with valid check digits wins; a run that
    fails them is no reference (a garbled reference must not name an invoice)."""
    words = (text or "").upper().split()
    bodies = []
    for start, word in enumerate(words):
        if not _RF_START.match(word):
            continue
        run = ""
        valid = None
        group = [w.strip(".,;:()") for w in words[start : start + 8]]
        for position, following in enumerate(group):
            run += following
            if len(run) > 25:
                break
            if iso11649.is_valid(run) and not _continues(group[position + 1 :]):
                valid = run
        if valid:
            bodies.append(valid[4:])
    return bodies


def _continues(rest: list[str]) -> bool:
    # A next word of one to four characters with a digit is the reference's next
    # group: a run that stops before it only looks valid by chance.
    return bool(rest) and len(rest[0]) <= 4 and any(c.isdigit() for c in rest[0])
