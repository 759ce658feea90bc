"""Sales orders: creation, confirmation with a credit check, and cancellation."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from o2c.errors import ConflictError, DomainError
from o2c.models import AuditEvent
from orders.models import SalesOrder
from orders.services.master import customer_set_credit_hold, item_create
from orders.services.orders import (
    OrderLineInput,
    fulfillment_cancel,
    fulfillment_create,
    order_cancel,
    order_confirm,
    order_create,
    order_total,
)
from tests.factories import SYSTEM, CustomerFactory, issued_invoice

TODAY = "2026-03-10 09:00 +01:00"


def confirmations(order):
    return list(
        AuditEvent.objects.filter(
            object_type="orders.salesorder",
            object_id=str(order.pk),
            to_status="confirmed",
        )
    )


def test_order_lines_are_priced_with_tax_in_the_order_currency(customer, make_order):
    order = make_order(("3", "19.99"), ("2.5", "4.00"), tax_rate=Decimal("19"))
    assert order.number == "SO-000001"
    assert order.status == SalesOrder.Status.DRAFT
    assert order.currency == "EUR"
    # 59.97 + 11.39 tax, 10.00 + 1.90 tax
    assert order_total(order) == Decimal("83.26")
    assert [line.position for line in order.lines.all()] == [1, 2]


def test_item_price_is_used_unless_the_line_gives_one(customer):
    item = item_create(
        sku="W-1", name="Widget", unit_price="12.50", currency="EUR", actor=SYSTEM
    )
    order = order_create(
        customer=customer,
        order_date=date(2026, 3, 1),
        lines=[
            OrderLineInput(quantity=Decimal(2), item=item),
            OrderLineInput(quantity=Decimal(1), item=item, unit_price=Decimal("10")),
        ],
        actor=SYSTEM,
    )
    lines = list(order.lines.values_list("description", "unit_price"))
    assert lines == [("Widget", Decimal("12.50")), ("Widget", Decimal("10.00"))]


def test_an_item_priced_in_another_currency_needs_a_line_price(customer):
    item = item_create(
        sku="Y-1", name="Yen widget", unit_price="1500", currency="JPY", actor=SYSTEM
    )
    with pytest.raises(DomainError) as refused:
        order_create(
            customer=customer,
            order_date=date(2026, 3, 1),
            lines=[
                OrderLineInput(
                    quantity=Decimal(1), unit_price=Decimal(1), description="Fee"
                ),
                OrderLineInput(quantity=Decimal(1), item=item),
            ],
            actor=SYSTEM,
        )
    assert refused.value.code == "currency_mismatch"
    assert refused.value.field == "lines[1].item"
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": Decimal(0), "unit_price": Decimal(1)}, "lines[0].quantity"),
        ({"quantity": Decimal(1), "unit_price": Decimal("-1")}, "lines[0].unit_price"),
        (
            {"quantity": Decimal(1), "unit_price": Decimal("1.001")},
            "lines[0].unit_price",
        ),
        ({"quantity": Decimal(1)}, "lines[0].unit_price"),
    ],
)
def test_invalid_order_lines_are_refused_with_the_field(customer, line, field):
    with pytest.raises(DomainError) as refused:
        order_create(
            customer=customer,
            order_date=date(2026, 3, 1),
            lines=[OrderLineInput(description="Widget", **line)],
            actor=SYSTEM,
        )
    assert refused.value.field == field
    assert not SalesOrder.objects.exists()


def test_an_order_needs_lines(customer):
    with pytest.raises(DomainError) as refused:
        order_create(
            customer=customer, order_date=date(2026, 3, 1), lines=[], actor=SYSTEM
        )
    assert refused.value.field == "lines"


@time_machine.travel(TODAY, tick=False)
def test_confirm_within_the_credit_limit(customer, make_order):
    issued_invoice(customer, "600.00", invoice_date=date(2026, 3, 1))
    order = make_order(("4", "100.00"))  # 600 + 400 = exactly the 1000 limit

    order = order_confirm(order=order, actor=SYSTEM)

    assert order.status == SalesOrder.Status.CONFIRMED
    assert order.credit_check_overridden is False
    (event,) = confirmations(order)
    assert (event.from_status, event.actor_label) == ("draft", "tests")
    assert event.data == {"credit_check": [], "overridden": False}


@time_machine.travel(TODAY, tick=False)
def test_confirm_refused_when_the_limit_would_be_exceeded(customer, make_order):
    issued_invoice(customer, "600.00", invoice_date=date(2026, 3, 1))
    order = make_order(("4", "100.01"))

    with pytest.raises(DomainError) as refused:
        order_confirm(order=order, actor=SYSTEM)

    assert refused.value.code == "credit_check_failed"
    assert refused.value.field == "customer"
    assert "Open balance 600.00 + this order 400.04" in refused.value.message
    assert "credit limit of 1000.00 EUR" in refused.value.message
    order.refresh_from_db()
    assert order.status == SalesOrder.Status.DRAFT
    assert confirmations(order) == []


@time_machine.travel(TODAY, tick=False)
def test_confirm_refused_while_the_customer_has_anything_overdue(customer, make_order):
    issued_invoice(
        customer, "0.01", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 9)
    )
    order = make_order(("1", "1.00"))

    with pytest.raises(DomainError) as refused:
        order_confirm(order=order, actor=SYSTEM)

    assert "0.01 EUR overdue" in refused.value.message
    assert SalesOrder.objects.get(pk=order.pk).status == SalesOrder.Status.DRAFT


@time_machine.travel(TODAY, tick=False)
def test_an_invoice_due_today_is_not_overdue(customer, make_order):
    issued_invoice(
        customer, "10.00", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 10)
    )
    order = order_confirm(order=make_order(("1", "1.00")), actor=SYSTEM)
    assert order.status == SalesOrder.Status.CONFIRMED


@time_machine.travel("2026-03-09 23:30 +00:00", tick=False)
def test_overdue_is_judged_by_the_organizations_local_date(customer, make_order):
    # 23:30 UTC on the 9th is already the 10th in Berlin: due the 9th is overdue.
    issued_invoice(
        customer, "10.00", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 9)
    )
    with pytest.raises(DomainError, match="overdue"):
        order_confirm(order=make_order(("1", "1.00")), actor=SYSTEM)


def test_confirm_refused_while_on_credit_hold(customer, make_order):
    customer_set_credit_hold(
        customer=customer, on_hold=True, reason="Cheque bounced", actor=SYSTEM
    )
    order = make_order(("1", "1.00"))

    with pytest.raises(DomainError) as refused:
        order_confirm(order=order, actor=SYSTEM)

    assert refused.value.message == "The customer is on credit hold."
    assert SalesOrder.objects.get(pk=order.pk).status == SalesOrder.Status.DRAFT


@time_machine.travel(TODAY, tick=False)
def test_every_reason_is_given_at_once(customer, make_order):
    issued_invoice(
        customer, "900.00", invoice_date=date(2026, 1, 1), due_date=date(2026, 1, 31)
    )
    customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
    order = make_order(("1", "200.00"))

    with pytest.raises(DomainError) as refused:
        order_confirm(order=order, actor=SYSTEM)

    message = refused.value.message
    assert "credit hold" in message
    assert "900.00 EUR overdue" in message
    assert "exceeds the credit limit" in message


@time_machine.travel(TODAY, tick=False)
def test_override_confirms_and_audits_the_reasons(customer, make_order):
    issued_invoice(
        customer, "900.00", invoice_date=date(2026, 1, 1), due_date=date(2026, 1, 31)
    )
    order = make_order(("1", "200.00"))

    order = order_confirm(order=order, actor=SYSTEM, override_credit_check=True)

    assert order.status == SalesOrder.Status.CONFIRMED
    assert SalesOrder.objects.get(pk=order.pk).credit_check_overridden is True
    (event,) = confirmations(order)
    assert event.data["overridden"] is True
    assert len(event.data["credit_check"]) == 2
    assert "900.00 EUR overdue" in event.data["credit_check"][0]


def test_no_credit_limit_means_no_limit_check(tenant, make_order):
    unlimited = CustomerFactory(credit_limit=None)
    issued_invoice(unlimited, "99999.00", invoice_date=date(2026, 3, 1))
    order = make_order(("1", "50000.00"), order_customer=unlimited)
    with time_machine.travel(TODAY, tick=False):
        order = order_confirm(order=order, actor=SYSTEM)
    assert order.status == SalesOrder.Status.CONFIRMED


def test_paid_invoices_do_not_count_against_the_limit(customer, make_order):
    from tests.factories import received_payment

    invoice = issued_invoice(customer, "900.00", invoice_date=date(2026, 3, 1))
    received_payment(
        customer,
        "900.00",
        received_date=date(2026, 3, 5),
        allocations=[(invoice, "900.00")],
    )
    with time_machine.travel(TODAY, tick=False):
        order = order_confirm(order=make_order(("1", "1000.00")), actor=SYSTEM)
    assert order.status == SalesOrder.Status.CONFIRMED


def test_draft_and_confirmed_orders_can_be_cancelled(make_order):
    draft = order_cancel(order=make_order(("1", "5.00")), actor=SYSTEM, reason="dup")
    confirmed = order_cancel(
        order=make_order(("1", "5.00"), confirm=True), actor=SYSTEM
    )
    assert draft.status == confirmed.status == SalesOrder.Status.CANCELLED
    event = AuditEvent.objects.get(
        object_type="orders.salesorder", object_id=str(draft.pk), to_status="cancelled"
    )
    assert (event.from_status, event.data) == ("draft", {"reason": "dup"})


def test_a_cancelled_order_cannot_be_confirmed_or_shipped(make_order):
    order = order_cancel(order=make_order(("1", "5.00")), actor=SYSTEM)
    with pytest.raises(ConflictError):
        order_confirm(order=order, actor=SYSTEM)
    with pytest.raises(ConflictError):
        fulfillment_create(
            order=order,
            lines=[(order.lines.get(), Decimal(1))],
            shipped_date=date(2026, 3, 1),
            actor=SYSTEM,
        )
    assert SalesOrder.objects.get(pk=order.pk).status == SalesOrder.Status.CANCELLED


def test_an_order_with_shipped_goods_cannot_be_cancelled(make_order):
    order = make_order(("2", "5.00"), confirm=True)
    shipment = fulfillment_create(
        order=order,
        lines=[(order.lines.get(), Decimal(1))],
        shipped_date=date(2026, 3, 1),
        actor=SYSTEM,
    )
    with pytest.raises(ConflictError) as refused:
        order_cancel(order=order, actor=SYSTEM)
    assert refused.value.code == "already_fulfilled"
    assert (
        SalesOrder.objects.get(pk=order.pk).status
        == SalesOrder.Status.PARTIALLY_FULFILLED
    )

    # Once the shipment is cancelled, so can the order be.
    fulfillment_cancel(fulfillment=shipment, actor=SYSTEM)
    order = order_cancel(order=order, actor=SYSTEM)
    assert order.status == SalesOrder.Status.CANCELLED


@pytest.mark.parametrize("quantity", ["1.2345", "0.0001"])
def test_order_quantities_have_at_most_three_decimals(customer, quantity):
    with pytest.raises(DomainError) as refused:
        order_create(
            customer=customer,
            order_date=date(2026, 3, 1),
            lines=[
                OrderLineInput(
                    quantity=Decimal(quantity),
                    unit_price=Decimal("10.00"),
                    description="Cable (m)",
                )
            ],
            actor=SYSTEM,
        )
    assert refused.value.field == "lines[0].quantity"
    assert not SalesOrder.objects.exists()
