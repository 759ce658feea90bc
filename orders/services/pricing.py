"""Line arithmetic shared by orders, invoices and credit notes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from o2c.errors import DomainError
from o2c.money import MAX_AMOUNT, exact_amount, quantize
from orders.models import QUANTITY

MAX_QUANTITY = Decimal("99999999999")
QUANTITY_STEP = Decimal(1).scaleb(-QUANTITY["decimal_places"])


def exact_quantity(quantity, *, field: str) -> Decimal:
    """A positive quantity the quantity columns store as given (3 decimals at most).

    A finer one would be rounded on save, and the line's amount would no longer be
    its stored quantity times its price.
    """
    try:
        value = Decimal(str(quantity))
    except (InvalidOperation, ValueError, TypeError):
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0 or value > MAX_QUANTITY:
        raise DomainError(
            "invalid_quantity", _("Quantity must be greater than zero."), field=field
        )
    if value != value.quantize(QUANTITY_STEP):
        raise DomainError(
            "invalid_quantity",
            _("Quantity has at most %(decimals)s decimals; got %(quantity)s.")
            % {"decimals": QUANTITY["decimal_places"], "quantity": quantity},
            field=field,
        )
    return value


def check_total(amount: Decimal, *, field: str) -> None:
    """Refuse an amount the money columns cannot hold (18 digits, 3 decimals)."""
    if abs(amount) >= MAX_AMOUNT:
        raise DomainError(
            "invalid_amount",
            _("The amount %(amount)s is too large; amounts must be below %(limit)s.")
            % {"amount": f"{amount:,}", "limit": f"{MAX_AMOUNT:,}"},
            field=field,
        )


@dataclass(frozen=True)
class PricedLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    net_amount: Decimal
    tax_amount: Decimal

    @property
    def total(self) -> Decimal:
        return self.net_amount + self.tax_amount

    def columns(self) -> dict:
        """The priced fields, named as the columns of a stored line."""
        return dict(self.__dict__)


def price_line(
    *,
    currency: str,
    description: str,
    quantity,
    unit_price,
    tax_rate=Decimal(0),
    tax_amount=None,
    field: str = "lines[0]",
) -> PricedLine:
    """Price one line. Tax is a line amount: given, or the rate applied to the net."""
    quantity = exact_quantity(quantity, field=f"{field}.quantity")
    unit_price = Decimal(unit_price)
    if unit_price < 0:
        raise DomainError(
            "invalid_amount",
            _("Unit price must not be negative."),
            field=f"{field}.unit_price",
        )
    tax_rate = Decimal(tax_rate or 0)
    if not (0 <= tax_rate <= 100):
        raise DomainError(
            "invalid_tax_rate",
            _("Tax rate is a percent between 0 and 100."),
            field=f"{field}.tax_rate",
        )
    net_amount = quantize(quantity * unit_price, currency)
    if tax_amount is None:
        tax_amount = quantize(net_amount * tax_rate / 100, currency)
    else:
        tax_amount = exact_amount(tax_amount, currency, field=f"{field}.tax_amount")
        if tax_amount < 0:
            raise DomainError(
                "invalid_amount",
                _("Tax amount must not be negative."),
                field=f"{field}.tax_amount",
            )
    if not (description or "").strip():
        raise DomainError(
            "required",
            _("Every line needs a description."),
            field=f"{field}.description",
        )
    check_total(net_amount + tax_amount, field=field)
    return PricedLine(
        description=description.strip(),
        quantity=quantity,
        unit_price=unit_price,
        tax_rate=tax_rate,
        net_amount=net_amount,
        tax_amount=tax_amount,
    )
