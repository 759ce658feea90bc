from decimal import Decimal

import pytest

from o2c.tenancy import current_organization
from orders.services.orders import OrderLineInput, order_confirm, order_create
from tests.factories import SYSTEM, CustomerFactory


@pytest.fixture
def customer(tenant):
    return CustomerFactory(credit_limit=Decimal("1000.00"))


@pytest.fixture
def make_order(customer):
    """An order of (quantity, unit price) lines, in the customer's currency."""

    def make(*lines, confirm=False, order_customer=None, **fields):
        order = order_create(
            customer=order_customer or customer,
            order_date=fields.pop("order_date", None) or organization_today(),
            lines=[
                OrderLineInput(
                    quantity=Decimal(quantity),
                    unit_price=Decimal(price),
                    description=f"Widget {index}",
                    **fields,
                )
                for index, (quantity, price) in enumerate(lines)
            ],
            actor=SYSTEM,
        )
        if confirm:
            order = order_confirm(order=order, actor=SYSTEM)
        return order

    return make


def organization_today():
    return current_organization().today()
