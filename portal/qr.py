"""The EPC QR code ("GiroCode", EPC069-12): a SEPA credit transfer a banking app
reads from the screen. segno writes the payload (``BCD``, version 002, UTF-8,
``SCT``, BIC optional, EUR amount, structured reference) and the symbol (error
correction M, at most version 13, as the standard asks)."""

from __future__ import annotations

import io
from decimal import Decimal

import segno.helpers

from invoicing.references import PayTo

MAX_AMOUNT = Decimal("999999999.99")


def epc_qr_available(
    *, currency: str, amount: Decimal, pay_to: PayTo | None, reference: str
) -> bool:
    return (
        currency == "EUR"
        and pay_to is not None
        and bool(pay_to.iban)
        and bool(reference)
        and Decimal("0.01") <= amount <= MAX_AMOUNT
    )


def epc_qr_png(*, pay_to: PayTo, amount: Decimal, reference: str) -> bytes:
    """The PNG of the transfer of ``amount`` EUR to ``pay_to`` quoting the RF
    ``reference`` (structured, so the bank hands it back unchanged)."""
    qr = segno.helpers.make_epc_qr(
        name=pay_to.account_name[:70],
        iban=pay_to.iban.replace(" ", ""),
        amount=amount,
        reference=reference.replace(" ", ""),
        bic=pay_to.bic.replace(" ", "") or None,
        encoding="utf-8",
    )
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()
