"""Shipments: partial delivery, over-shipping refused, the order's derived status."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.services.invoices import invoice_create_from_order, invoice_void
from o2c.errors import ConflictError, DomainError
from o2c.models import AuditEvent
from orders.models import Fulfillment, FulfillmentLine, SalesOrder
from orders.services.orders import (
    fulfillment_cancel,
    fulfillment_create,
    fulfillment_deliver,
    order_confirm,
)
from tests.factories import SYSTEM

S = SalesOrder.Status
SHIPPED = date(2026, 3, 2)


@pytest.fixture
def order(make_order):
    return make_order(("10", "5.00"), ("4", "12.50"), confirm=True)


def ship(order, *quantities, shipped_date=SHIPPED):
    lines = list(order.lines.all())
    return fulfillment_create(
        order=order,
        lines=[
            (lines[index], Decimal(quantity))
            for index, quantity in enumerate(quantities)
            if quantity
        ],
        shipped_date=shipped_date,
        actor=SYSTEM,
    )


def status(order):
    return SalesOrder.objects.get(pk=order.pk).status


def shipped_quantities(order):
    return [line.quantity_fulfilled for line in order.lines.all()]


def test_partial_shipment_marks_the_order_partially_fulfilled(order):
    shipment = ship(order, "6", "4")

    assert shipment.number == "SH-000001"
    assert shipment.status == Fulfillment.Status.SHIPPED
    assert shipped_quantities(order) == [Decimal(6), Decimal(4)]
    assert status(order) == S.PARTIALLY_FULFILLED
    event = AuditEvent.objects.get(
        object_type="orders.salesorder",
        object_id=str(order.pk),
        to_status=S.PARTIALLY_FULFILLED,
    )
    assert event.from_status == S.CONFIRMED


def test_shipping_the_rest_fulfils_the_order(order):
    ship(order, "6", "1")
    ship(order, "4", "3")
    assert shipped_quantities(order) == [Decimal(10), Decimal(4)]
    assert status(order) == S.FULFILLED


def test_fractional_quantities_add_up(make_order):
    order = make_order(("2.5", "8.00"), confirm=True)
    ship(order, "1.25")
    assert status(order) == S.PARTIALLY_FULFILLED
    ship(order, "1.25")
    assert status(order) == S.FULFILLED


def test_over_shipping_is_refused_naming_the_line_and_writes_nothing(order):
    ship(order, "6")

    with pytest.raises(DomainError) as refused:
        ship(order, "5")

    assert refused.value.code == "exceeds_ordered"
    assert refused.value.field == "lines[0].quantity"
    assert refused.value.message == "Only 4 of line 1 remain to ship; got 5."
    assert Fulfillment.objects.count() == 1
    assert FulfillmentLine.objects.count() == 1
    assert shipped_quantities(order) == [Decimal(6), Decimal(0)]
    assert status(order) == S.PARTIALLY_FULFILLED
    # The number the failed shipment took is given to the next one.
    assert ship(order, "4").number == "SH-000002"


def test_over_shipping_a_later_line_rolls_back_the_earlier_ones(order):
    with pytest.raises(DomainError) as refused:
        ship(order, "10", "5")
    assert refused.value.field == "lines[1].quantity"
    assert shipped_quantities(order) == [Decimal(0), Decimal(0)]
    assert not Fulfillment.objects.exists()
    assert status(order) == S.CONFIRMED


def test_the_same_line_twice_in_one_shipment_cannot_exceed_the_order(order):
    line = order.lines.first()
    with pytest.raises(DomainError) as refused:
        fulfillment_create(
            order=order,
            lines=[(line, Decimal(6)), (line, Decimal(5))],
            shipped_date=SHIPPED,
            actor=SYSTEM,
        )
    assert refused.value.field == "lines[1].quantity"
    assert shipped_quantities(order) == [Decimal(0), Decimal(0)]


@pytest.mark.parametrize("quantity", ["0", "-1"])
def test_quantity_must_be_positive(order, quantity):
    with pytest.raises(DomainError) as refused:
        fulfillment_create(
            order=order,
            lines=[(order.lines.first(), Decimal(quantity))],
            shipped_date=SHIPPED,
            actor=SYSTEM,
        )
    assert refused.value.field == "lines[0].quantity"
    assert not Fulfillment.objects.exists()


def test_a_line_of_another_order_is_refused(order, make_order):
    other = make_order(("1", "1.00"), confirm=True)
    with pytest.raises(DomainError) as refused:
        fulfillment_create(
            order=order,
            lines=[(other.lines.get(), Decimal(1))],
            shipped_date=SHIPPED,
            actor=SYSTEM,
        )
    assert refused.value.field == "lines[0].order_line"
    assert not Fulfillment.objects.exists()


def test_a_shipment_needs_lines(order):
    with pytest.raises(DomainError) as refused:
        fulfillment_create(order=order, lines=[], shipped_date=SHIPPED, actor=SYSTEM)
    assert refused.value.field == "lines"


def test_draft_orders_do_not_ship(make_order):
    draft = make_order(("1", "1.00"))
    with pytest.raises(ConflictError) as refused:
        ship(draft, "1")
    assert refused.value.field == "order"


def test_fulfilled_orders_do_not_ship_again(order):
    ship(order, "10", "4")
    with pytest.raises(ConflictError):
        ship(order, "1")


def test_cancelling_a_shipment_returns_its_quantities(order):
    first = ship(order, "6", "4")
    ship(order, "4")
    assert status(order) == S.FULFILLED

    cancelled = fulfillment_cancel(fulfillment=first, actor=SYSTEM)

    assert cancelled.status == Fulfillment.Status.CANCELLED
    assert shipped_quantities(order) == [Decimal(4), Decimal(0)]
    assert status(order) == S.PARTIALLY_FULFILLED


def test_cancelling_the_only_shipment_returns_the_order_to_confirmed(order):
    shipment = ship(order, "1")
    fulfillment_cancel(fulfillment=shipment, actor=SYSTEM)
    assert status(order) == S.CONFIRMED
    with pytest.raises(ConflictError):
        fulfillment_cancel(fulfillment=shipment, actor=SYSTEM)
    assert shipped_quantities(order) == [Decimal(0), Decimal(0)]


def test_delivered_shipments_cannot_be_cancelled(order):
    shipment = fulfillment_deliver(fulfillment=ship(order, "1"), actor=SYSTEM)
    assert shipment.status == Fulfillment.Status.DELIVERED
    with pytest.raises(ConflictError):
        fulfillment_cancel(fulfillment=shipment, actor=SYSTEM)
    assert shipped_quantities(order) == [Decimal(1), Decimal(0)]


def test_an_invoiced_shipment_cannot_be_cancelled(order):
    shipment = ship(order, "10", "4")
    invoice = invoice_create_from_order(order=order, invoice_date=SHIPPED, actor=SYSTEM)
    assert status(order) == S.INVOICED

    with pytest.raises(ConflictError) as refused:
        fulfillment_cancel(fulfillment=shipment, actor=SYSTEM)

    assert refused.value.code == "already_invoiced"
    assert Fulfillment.objects.get(pk=shipment.pk).status == "shipped"
    assert shipped_quantities(order) == [Decimal(10), Decimal(4)]

    # Voiding the invoice frees the shipment again.
    invoice_void(invoice=invoice, actor=SYSTEM, void_date=SHIPPED)
    assert status(order) == S.FULFILLED
    fulfillment_cancel(fulfillment=shipment, actor=SYSTEM)
    assert status(order) == S.CONFIRMED


def test_order_status_follows_shipping_and_invoicing(order):
    ship(order, "5")
    invoice_create_from_order(order=order, invoice_date=SHIPPED, actor=SYSTEM)
    # Everything shipped is invoiced, but not everything is shipped.
    assert status(order) == S.PARTIALLY_FULFILLED
    ship(order, "5", "4")
    assert status(order) == S.FULFILLED
    invoice_create_from_order(order=order, invoice_date=SHIPPED, actor=SYSTEM)
    assert status(order) == S.INVOICED
    transitions = list(
        AuditEvent.objects.filter(
            object_type="orders.salesorder", object_id=str(order.pk)
        )
        .order_by("pk")
        .values_list("from_status", "to_status")
    )
    assert transitions == [
        ("", "draft"),
        ("draft", "confirmed"),
        ("confirmed", "partially_fulfilled"),
        ("partially_fulfilled", "fulfilled"),
        ("fulfilled", "invoiced"),
    ]


def test_confirming_again_does_not_undo_the_shipping_status(order):
    ship(order, "1")
    with pytest.raises(ConflictError):
        order_confirm(order=order, actor=SYSTEM)
    assert status(order) == S.PARTIALLY_FULFILLED


def test_confirming_a_confirmed_order_again_changes_nothing(order):
    assert order_confirm(order=order, actor=SYSTEM).status == S.CONFIRMED
    assert (
        AuditEvent.objects.filter(
            object_id=str(order.pk), to_status=S.CONFIRMED
        ).count()
        == 1
    )


@pytest.mark.parametrize("quantity", ["0.0005", "1.2345"])
def test_quantities_finer_than_the_column_are_refused(order, quantity):
    with pytest.raises(DomainError) as refused:
        ship(order, quantity)
    assert refused.value.field == "lines[0].quantity"
    assert not Fulfillment.objects.exists()


def test_whole_number_quantities_may_be_given_as_int(order):
    line = order.lines.first()
    with pytest.raises(DomainError) as refused:
        fulfillment_create(
            order=order, lines=[(line, 11)], shipped_date=SHIPPED, actor=SYSTEM
        )
    assert refused.value.message == "Only 10 of line 1 remain to ship; got 11."
