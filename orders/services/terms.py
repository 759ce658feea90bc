"""Payment terms: validation and the due-date schedule of an invoice."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from o2c.errors import DomainError
from o2c.money import quantize, split_evenly
from orders.models import PaymentTerm

MAX_TERM_DAYS = 3650


def clean_instalments(kind: str, instalments) -> list[dict]:
    """Validate an instalment schedule; returns it normalised (strings for JSON)."""
    if kind != PaymentTerm.Kind.INSTALMENTS:
        if instalments:
            raise DomainError(
                "invalid_instalments",
                _("Instalments are only allowed on instalment terms."),
                field="instalments",
            )
        return []
    if not isinstance(instalments, list) or len(instalments) < 2:
        raise DomainError(
            "invalid_instalments",
            _("Instalment terms need at least two instalments."),
            field="instalments",
        )
    cleaned, total, previous_days = [], Decimal(0), -1
    for index, part in enumerate(instalments):
        where = f"instalments[{index}]"
        try:
            percent = Decimal(str(part["percent"]))
            days = int(part["days"])
        except (KeyError, TypeError, ValueError, InvalidOperation):
            raise DomainError(
                "invalid_instalments",
                _("Each instalment needs a percent and a number of days."),
                field=where,
            ) from None
        # NaN is refused before comparing: comparisons with it raise.
        if (
            not percent.is_finite()
            or not (0 < percent <= 100)
            or not (0 <= days <= MAX_TERM_DAYS)
        ):
            raise DomainError(
                "invalid_instalments",
                _("Percent must be in (0, 100] and days in [0, %(max_days)s].")
                % {"max_days": MAX_TERM_DAYS},
                field=where,
            )
        if days <= previous_days:
            raise DomainError(
                "invalid_instalments",
                _("Instalments must be in order of increasing days."),
                field=f"{where}.days",
            )
        previous_days = days
        total += percent
        cleaned.append({"percent": str(percent), "days": days})
    if total != 100:
        raise DomainError(
            "invalid_instalments",
            _("Instalment percents must add up to 100, not %(total)s.")
            % {"total": total},
            field="instalments",
        )
    return cleaned


MAX_DISCOUNT_PERCENT = Decimal(50)


def clean_discount(kind: str, days: int, percent, discount_days) -> tuple[Decimal, int]:
    """Validate an early-payment discount ("2/10 net 30": 2 % within 10 days);
    returns (percent, days), (0, 0) for none."""
    try:
        percent = Decimal(str(percent if percent not in (None, "") else 0))
        discount_days = int(discount_days or 0)
    except (TypeError, ValueError, InvalidOperation):
        raise DomainError(
            "invalid_discount",
            "Give the discount as a percent and a number of days.",
            field="discount_percent",
        ) from None
    if not percent.is_finite() or not (0 <= percent <= MAX_DISCOUNT_PERCENT):
        raise DomainError(
            "invalid_discount",
            f"The discount is a percent from 0 to {MAX_DISCOUNT_PERCENT}.",
            field="discount_percent",
        )
    if percent != percent.quantize(Decimal("0.01")):
        raise DomainError(
            "invalid_discount",
            "The discount percent has at most two decimals.",
            field="discount_percent",
        )
    if percent == 0:
        if discount_days:
            raise DomainError(
                "invalid_discount",
                "Days for a discount need a discount percent.",
                field="discount_percent",
            )
        return Decimal(0), 0
    if kind == PaymentTerm.Kind.INSTALMENTS:
        raise DomainError(
            "invalid_discount",
            "Instalment terms take no early-payment discount.",
            field="discount_percent",
        )
    if discount_days < 0 or (kind == PaymentTerm.Kind.NET and discount_days >= days):
        raise DomainError(
            "invalid_discount",
            f"The discount period must end before the invoice is due ({days} days).",
            field="discount_days",
        )
    if discount_days > MAX_TERM_DAYS:
        raise DomainError(
            "invalid_discount",
            f"Discount days must be 0 to {MAX_TERM_DAYS}.",
            field="discount_days",
        )
    return percent, discount_days


def early_payment_discount(
    term: PaymentTerm, invoice_date: date, total: Decimal, currency: str
) -> tuple[Decimal, date, Decimal] | None:
    """(percent, last day, amount) of the discount an invoice of ``total`` dated
    ``invoice_date`` gets on ``term``; None without one. The amount is the
    percent of the total (tax included), rounded to the currency's minor unit."""
    if not term.has_discount or total <= 0:
        return None
    amount = quantize(total * term.discount_percent / 100, currency)
    if amount <= 0:
        return None
    return (
        term.discount_percent,
        invoice_date + timedelta(days=term.discount_days),
        amount,
    )


def due_schedule(
    term: PaymentTerm, invoice_date: date, total: Decimal, currency: str
) -> list[tuple[date, Decimal]]:
    """(due date, amount) pairs for an invoice of ``total`` dated ``invoice_date``."""
    try:
        return _due_schedule(term, invoice_date, total, currency)
    except OverflowError:
        raise DomainError(
            "invalid_date",
            _("Invoice date %(date)s puts the due date past the end of the calendar.")
            % {"date": invoice_date.isoformat()},
            field="invoice_date",
        ) from None


def _due_schedule(term, invoice_date, total, currency):
    if term.kind == PaymentTerm.Kind.NET:
        return [(invoice_date + timedelta(days=term.days), total)]
    if term.kind == PaymentTerm.Kind.END_OF_MONTH:
        last_day = calendar.monthrange(invoice_date.year, invoice_date.month)[1]
        month_end = invoice_date.replace(day=last_day)
        return [(month_end + timedelta(days=term.days), total)]
    parts = term.instalments
    amounts = split_evenly(total, [Decimal(p["percent"]) for p in parts], currency)
    return [
        (invoice_date + timedelta(days=int(p["days"])), amount)
        for p, amount in zip(parts, amounts, strict=True)
    ]
