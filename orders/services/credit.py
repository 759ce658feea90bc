"""Credit check on order confirmation.

The receivables live in ``invoicing``, which sits above ``orders`` in the
dependency order; it registers an exposure provider here at start-up, so the credit
check can ask for a customer's open and overdue balance without importing upward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from o2c.errors import DomainError
from o2c.money import quantize
from orders.models import Customer


@dataclass(frozen=True)
class Exposure:
    open_balance: Decimal
    overdue_balance: Decimal


_exposure_provider: Callable[[Customer, str], Exposure] | None = None


def register_exposure_provider(provider: Callable[[Customer, str], Exposure]) -> None:
    global _exposure_provider
    _exposure_provider = provider


def customer_exposure(customer: Customer, currency: str) -> Exposure:
    if _exposure_provider is None:
        return Exposure(Decimal(0), Decimal(0))
    return _exposure_provider(customer, currency)


def credit_check(
    *, customer: Customer, order_total: Decimal, currency: str
) -> list[str]:
    """Reasons the order must not be confirmed (empty when it may)."""
    reasons = []
    if customer.on_credit_hold:
        reasons.append("The customer is on credit hold.")
    exposure = customer_exposure(customer, currency)
    # Amounts come back from 3-decimal columns; a person reads them in the
    # currency's own minor unit (900.00 EUR, not 900 or 900.000).
    overdue = quantize(exposure.overdue_balance, currency)
    open_balance = quantize(exposure.open_balance, currency)
    if overdue > 0:
        reasons.append(f"The customer has {overdue} {currency} overdue.")
    if customer.credit_limit is not None and currency == customer.currency:
        limit = quantize(customer.credit_limit, currency)
        if open_balance + order_total > limit:
            reasons.append(
                f"Open balance {open_balance} + this order {order_total} "
                f"exceeds the credit limit of {limit} {currency}."
            )
    return reasons


def raise_if_refused(reasons: list[str]) -> None:
    if reasons:
        raise DomainError("credit_check_failed", " ".join(reasons), field="customer")
