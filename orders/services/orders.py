"""Sales orders and fulfillments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from o2c.errors import ConflictError, DomainError
from o2c.money import exact_amount, validate_currency
from o2c.services import Actor, audit_record, next_number, transition
from o2c.tenancy import current_organization
from orders.models import (
    Customer,
    Fulfillment,
    FulfillmentLine,
    Item,
    SalesOrder,
    SalesOrderLine,
)
from orders.services.credit import credit_check, raise_if_refused
from orders.services.pricing import exact_quantity, price_line


@dataclass(frozen=True)
class OrderLineInput:
    quantity: Decimal
    description: str = ""
    unit_price: Decimal | None = None
    tax_rate: Decimal | None = None
    item: Item | None = None


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    order_date: date,
    lines: list[OrderLineInput],
    currency: str | None = None,
    customer_reference: str = "",
    notes: str = "",
    actor: Actor,
) -> SalesOrder:
    currency = validate_currency(currency or customer.currency)
    if not lines:
        raise DomainError(
            "required", _("An order needs at least one line."), field="lines"
        )
    order = SalesOrder.objects.create(
        organization=current_organization(),
        number=next_number("sales_order", prefix="SO-"),
        customer=customer,
        currency=currency,
        order_date=order_date,
        customer_reference=customer_reference,
        notes=notes,
    )
    SalesOrderLine.objects.bulk_create(
        [
            _order_line(order, position, line)
            for position, line in enumerate(lines, start=1)
        ]
    )
    audit_record(actor=actor, obj=order, action="created", to_status=order.status)
    return order


def _order_line(order: SalesOrder, position: int, line: OrderLineInput):
    field = f"lines[{position - 1}]"
    item = line.item
    if item is not None and item.currency != order.currency and line.unit_price is None:
        raise DomainError(
            "currency_mismatch",
            _(
                "Item %(sku)s is priced in %(currency)s; give a unit_price in "
                "%(other_currency)s."
            )
            % {
                "sku": item.sku,
                "currency": item.currency,
                "other_currency": order.currency,
            },
            field=f"{field}.item",
        )
    unit_price = (
        line.unit_price if line.unit_price is not None else item and item.unit_price
    )
    if unit_price is None:
        raise DomainError(
            "required", _("Give a unit_price or an item."), field=f"{field}.unit_price"
        )
    unit_price = exact_amount(unit_price, order.currency, field=f"{field}.unit_price")
    priced = price_line(
        currency=order.currency,
        description=line.description or (item.name if item else ""),
        quantity=line.quantity,
        unit_price=unit_price,
        tax_rate=line.tax_rate
        if line.tax_rate is not None
        else (item.tax_rate if item else 0),
        field=field,
    )
    return SalesOrderLine(
        organization=order.organization,
        order=order,
        position=position,
        item=item,
        description=priced.description,
        quantity=priced.quantity,
        unit_price=priced.unit_price,
        tax_rate=priced.tax_rate,
    )


def order_total(order: SalesOrder) -> Decimal:
    return sum(
        (
            price_line(
                currency=order.currency,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
            ).total
            for line in order.lines.all()
        ),
        Decimal(0),
    )


@transaction.atomic
def order_confirm(
    *, order: SalesOrder, actor: Actor, override_credit_check: bool = False
) -> SalesOrder:
    """Confirm after a credit check (hold, overdue balance, credit limit).

    Admin and finance may override a failed check; the override is audited.
    """
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    # The transition table lets a shipped order fall back to confirmed when its
    # shipments are cancelled; confirming itself only ever starts from a draft.
    if order.status == SalesOrder.Status.CONFIRMED:
        return order
    if order.status != SalesOrder.Status.DRAFT:
        raise ConflictError(
            "invalid_transition",
            _("Order %(order)s is %(status)s; only drafts are confirmed.")
            % {"order": order, "status": order.status},
            field="status",
        )
    customer = Customer.objects.select_for_update().get(pk=order.customer_id)
    reasons = credit_check(
        customer=customer, order_total=order_total(order), currency=order.currency
    )
    if reasons and not override_credit_check:
        raise_if_refused(reasons)
    order = transition(
        obj=order,
        to_status=SalesOrder.Status.CONFIRMED,
        actor=actor,
        data={"credit_check": reasons, "overridden": bool(reasons)},
        extra_fields={"credit_check_overridden": bool(reasons)},
    )
    return order


@transaction.atomic
def order_cancel(*, order: SalesOrder, actor: Actor, reason: str = "") -> SalesOrder:
    if order.lines.filter(quantity_fulfilled__gt=0).exists():
        raise ConflictError(
            "already_fulfilled",
            _("Goods were shipped on this order; cancel its fulfillments first."),
        )
    return transition(
        obj=order,
        to_status=SalesOrder.Status.CANCELLED,
        actor=actor,
        data={"reason": reason},
    )


@transaction.atomic
def fulfillment_create(
    *,
    order: SalesOrder,
    lines: list[tuple[SalesOrderLine, Decimal]],
    shipped_date: date,
    carrier: str = "",
    tracking_number: str = "",
    actor: Actor,
) -> Fulfillment:
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    if order.status not in (
        SalesOrder.Status.CONFIRMED,
        SalesOrder.Status.PARTIALLY_FULFILLED,
    ):
        raise ConflictError(
            "invalid_status",
            _("Order %(order)s is %(status)s; only confirmed orders ship.")
            % {"order": order, "status": order.status},
            field="order",
        )
    if not lines:
        raise DomainError("required", _("Ship at least one line."), field="lines")
    fulfillment = Fulfillment.objects.create(
        organization=order.organization,
        number=next_number("fulfillment", prefix="SH-"),
        order=order,
        shipped_date=shipped_date,
        carrier=carrier,
        tracking_number=tracking_number,
    )
    order_lines = _locked_lines(order, [line for line, _ in lines])
    for index, (line, quantity) in enumerate(lines):
        field = f"lines[{index}].quantity"
        order_line = order_lines[line.pk]
        remaining = order_line.quantity - order_line.quantity_fulfilled
        quantity = exact_quantity(quantity, field=field)
        if quantity > remaining:
            raise DomainError(
                "exceeds_ordered",
                _(
                    "Only %(available)s of line %(position)s remain to ship; got "
                    "%(quantity)s."
                )
                % {
                    "available": f"{remaining.normalize():f}",
                    "position": order_line.position,
                    "quantity": f"{quantity.normalize():f}",
                },
                field=field,
            )
        order_line.quantity_fulfilled += quantity
        order_line.save(update_fields=["quantity_fulfilled"])
        FulfillmentLine.objects.create(
            organization=order.organization,
            fulfillment=fulfillment,
            order_line=order_line,
            quantity=quantity,
        )
    audit_record(actor=actor, obj=fulfillment, action="created", to_status="shipped")
    order_sync_status(order=order, actor=actor)
    return fulfillment


@transaction.atomic
def fulfillment_deliver(*, fulfillment: Fulfillment, actor: Actor) -> Fulfillment:
    return transition(
        obj=fulfillment, to_status=Fulfillment.Status.DELIVERED, actor=actor
    )


@transaction.atomic
def fulfillment_cancel(*, fulfillment: Fulfillment, actor: Actor) -> Fulfillment:
    fulfillment = transition(
        obj=fulfillment, to_status=Fulfillment.Status.CANCELLED, actor=actor
    )
    for fulfillment_line in fulfillment.lines.select_related("order_line"):
        updated = SalesOrderLine.objects.filter(
            pk=fulfillment_line.order_line_id,
            quantity_fulfilled__gte=F("quantity_invoiced") + fulfillment_line.quantity,
        ).update(quantity_fulfilled=F("quantity_fulfilled") - fulfillment_line.quantity)
        if not updated:
            raise ConflictError(
                "already_invoiced",
                _(
                    "Part of this shipment is already invoiced; credit the invoice "
                    "instead of cancelling the shipment."
                ),
            )
    order_sync_status(order=fulfillment.order, actor=actor)
    return fulfillment


def order_sync_status(*, order: SalesOrder, actor: Actor) -> SalesOrder:
    """Derive the order's status from its lines' shipped and invoiced quantities."""
    order = SalesOrder.objects.get(pk=order.pk)
    if order.status in (SalesOrder.Status.DRAFT, SalesOrder.Status.CANCELLED):
        return order
    lines = list(order.lines.all())
    fulfilled = all(line.quantity_fulfilled == line.quantity for line in lines)
    invoiced = all(line.quantity_invoiced == line.quantity for line in lines)
    if fulfilled and invoiced:
        status = SalesOrder.Status.INVOICED
    elif fulfilled:
        status = SalesOrder.Status.FULFILLED
    elif any(line.quantity_fulfilled > 0 for line in lines):
        status = SalesOrder.Status.PARTIALLY_FULFILLED
    else:
        status = SalesOrder.Status.CONFIRMED
    return transition(obj=order, to_status=status, actor=actor)


def _locked_lines(order: SalesOrder, lines) -> dict[int, SalesOrderLine]:
    ids = [line.pk for line in lines]
    locked = {
        line.pk: line
        for line in SalesOrderLine.objects.select_for_update()
        .filter(order=order, pk__in=ids)
        .order_by("pk")
    }
    for index, line in enumerate(lines):
        if line.pk not in locked:
            raise DomainError(
                "not_on_order",
                _("Line %(pk)s is not on order %(order)s.")
                % {"pk": line.pk, "order": order},
                field=f"lines[{index}].order_line",
            )
    return locked
