"""The finance desk's forms: customers, contacts, orders, shipments, invoices and
credit notes, through the browser's POSTs.

Each refused input must answer with the service's message next to the input it
names, keep what was typed, and write nothing; another organization's id answers
404 like the API.
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.test import Client

from invoicing.models import CreditNote, Invoice, InvoiceDelivery
from invoicing.selectors import customer_balances
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context
from orders.models import Contact, Customer, Fulfillment, Item, SalesOrder
from orders.services.orders import (
    OrderLineInput,
    fulfillment_create,
    order_confirm,
    order_create,
)
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    PaymentTermFactory,
    issued_invoice,
    member,
    received_payment,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
TODAY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def clerk(org):
    return member(org, Role.FINANCE, first_name="Clara", last_name="Clerk")


@pytest.fixture
def client(clerk):
    client = Client()
    client.force_login(clerk)
    return client


@pytest.fixture
def terms(tenant):
    return PaymentTermFactory(name="Net 14", days=14)


@pytest.fixture
def acme(tenant, terms):
    return CustomerFactory(
        name="Acme Tools", number="C-100", payment_term=terms, email="ap@acme.test"
    )


@pytest.fixture
def drill(tenant):
    return Item.objects.create(
        organization=tenant,
        sku="DRL-1",
        name="Cordless drill",
        unit_price=Decimal("89.90"),
        currency="EUR",
        tax_rate=Decimal("19"),
    )


@pytest.fixture
def foreign_customer(other_org):
    with tenant_context(other_org):
        return CustomerFactory(name="Someone Else's", number="X-1")


def refused(response, message: str) -> str:
    """The page of a refused form: 422 with the message shown."""
    page = response.content.decode()
    assert response.status_code == 422, page[:2000]
    assert "Nothing was saved" in page or "Not " in page
    assert message in page, page
    return page


def customer_data(terms, **changes):
    return {
        "name": "Brightline Retail",
        "language": "de",
        "payment_term": terms.pk,
        "risk_class": "medium",
        "credit_limit": "5000.00",
        "currency": "",
        **changes,
    }


def draft_order(customer, *lines, order_date=TODAY):
    return order_create(
        customer=customer,
        order_date=order_date,
        lines=[
            OrderLineInput(
                description=name, quantity=Decimal(qty), unit_price=Decimal(price)
            )
            for name, qty, price in lines
        ],
        actor=SYSTEM,
    )


def shipped_order(customer):
    """10 drills at 89.90 and 4 cases at 12.50 (no tax); 6 drills shipped."""
    order = order_confirm(
        order=draft_order(customer, ("Drill", "10", "89.90"), ("Case", "4", "12.50")),
        actor=SYSTEM,
    )
    drills = order.lines.get(position=1)
    fulfillment_create(
        order=order, lines=[(drills, Decimal(6))], shipped_date=TODAY, actor=SYSTEM
    )
    return order


def order_post(customer, lines, **header):
    data = {
        "customer": customer.pk if customer else "",
        "order_date": "2026-03-02",
        "currency": "",
        "customer_reference": "PO-77",
        "notes": "",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        **header,
    }
    for index, line in enumerate(lines):
        for name, value in line.items():
            data[f"lines-{index}-{name}"] = value
    return data


def invoice_post(customer, lines, **header):
    data = order_post(customer, lines, **header)
    data["invoice_date"] = data.pop("order_date")
    data["due_date"] = header.get("due_date", "")
    return data


# --- customers ----------------------------------------------------------------------


def test_clerk_creates_a_customer_with_terms_limit_and_hold(client, tenant, terms):
    response = client.post(
        "/customers/new/",
        customer_data(
            terms,
            segment="Retail",
            on_credit_hold="on",
            credit_hold_reason="Awaiting references",
            do_not_contact="on",
        ),
    )

    customer = Customer.objects.get(name="Brightline Retail")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert customer.currency == "EUR"  # the organization's base currency
    assert customer.credit_limit == Decimal("5000.00")
    assert customer.on_credit_hold and customer.do_not_contact
    assert (customer.language, customer.segment) == ("de", "Retail")
    assert customer.number  # numbered by the service
    actions = set(
        AuditEvent.objects.filter(object_id=str(customer.pk)).values_list(
            "action", flat=True
        )
    )
    assert actions == {"created", "credit_hold"}


@pytest.mark.parametrize(
    ("changes", "message", "kept"),
    [
        ({"currency": "XYZ"}, "Unknown currency &#x27;XYZ&#x27;.", 'value="XYZ"'),
        (
            {"credit_limit": "-10"},
            "Credit limit must not be negative.",
            'value="-10"',
        ),
        (
            {"credit_limit": "10.005"},
            "10.005",
            'value="10.005"',
        ),
    ],
)
def test_customer_form_refuses_what_the_api_refuses(
    client, tenant, terms, changes, message, kept
):
    response = client.post("/customers/new/", customer_data(terms, **changes))

    page = refused(response, message)
    assert kept in page and 'value="Brightline Retail"' in page
    assert not Customer.objects.exists()


def test_a_refused_edit_saves_neither_terms_nor_hold(client, tenant, terms, acme):
    """A bad currency refuses the whole edit: terms unchanged, no hold set."""
    other_terms = PaymentTermFactory(name="Net 60", days=60)
    response = client.post(
        f"/customers/{acme.pk}/edit/",
        customer_data(
            terms, name="Acme Tools", payment_term=other_terms.pk, currency="EURO"
        )
        | {"on_credit_hold": "on"},
    )

    refused(response, "Unknown currency")
    acme.refresh_from_db()
    assert acme.payment_term == terms and not acme.on_credit_hold


def test_clerk_edits_terms_collector_and_releases_the_hold(client, tenant, terms, org):
    collector = member(org, Role.COLLECTOR, first_name="Cora")
    customer = CustomerFactory(
        name="Held Co",
        on_credit_hold=True,
        payment_term=terms,
        credit_limit=Decimal("500"),
    )
    net60 = PaymentTermFactory(name="Net 60", days=60)
    form = client.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert 'name="credit_limit" value="500.00"' in form
    assert 'name="on_credit_hold" id="id_on_credit_hold" checked' in form

    response = client.post(
        f"/customers/{customer.pk}/edit/",
        customer_data(
            terms,
            name="Held Co",
            payment_term=net60.pk,
            collector=collector.pk,
            risk_class="high",
            credit_limit="",
            credit_hold_reason="Paid up",
        ),
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.payment_term == net60 and customer.collector == collector
    assert customer.risk_class == "high" and customer.credit_limit is None
    assert not customer.on_credit_hold
    release = AuditEvent.objects.get(
        object_id=str(customer.pk), action="credit_release"
    )
    assert release.data == {"reason": "Paid up"}


def test_a_foreign_customer_is_not_found(client, tenant, terms, foreign_customer):
    assert client.get(f"/customers/{foreign_customer.pk}/edit/").status_code == 404
    response = client.post(
        f"/customers/{foreign_customer.pk}/edit/", customer_data(terms)
    )
    assert response.status_code == 404
    with tenant_context(foreign_customer.organization):
        assert Customer.objects.get().name == "Someone Else's"


def test_a_foreign_collector_is_refused(client, tenant, terms, other_org):
    stranger = member(other_org, Role.COLLECTOR)
    response = client.post(
        "/customers/new/", customer_data(terms, collector=stranger.pk)
    )
    assert response.status_code == 422
    assert not Customer.objects.exists()


def test_a_viewer_may_not_create_customers(org, tenant, terms):
    viewer = Client()
    viewer.force_login(member(org, Role.VIEWER))
    assert viewer.get("/customers/new/").status_code == 403
    assert viewer.post("/customers/new/", customer_data(terms)).status_code == 403
    assert not Customer.objects.exists()


def test_customer_picker_searches_a_few_by_name_or_number(client, tenant, terms):
    for n in range(15):
        CustomerFactory(name=f"Nordic {n:02d}", payment_term=terms)
    CustomerFactory(name="Acme", number="C-777", payment_term=terms)

    by_name = client.get("/customers/pick/", {"q": "nordic"}).content.decode()
    by_number = client.get("/customers/pick/", {"q": "C-777"}).content.decode()

    assert by_name.count('class="choice"') == 10
    assert "The first 10 matches" in by_name
    assert by_number.count('class="choice"') == 1 and "Acme" in by_number


# --- contacts -----------------------------------------------------------------------


def test_clerk_adds_edits_and_removes_a_contact(client, tenant, acme):
    url = f"/customers/{acme.pk}/contacts/"
    response = client.post(
        url,
        {
            "new-contact-name": "Paula Payables",
            "new-contact-email": "paula@acme.test",
            "new-contact-role": "ap_clerk",
        },
    )
    assert response.status_code == 200
    contact = Contact.objects.get(customer=acme)
    assert (contact.name, contact.role) == ("Paula Payables", "ap_clerk")

    response = client.post(
        f"{url}{contact.pk}/",
        {
            f"contact-{contact.pk}-name": "Paula Payables",
            f"contact-{contact.pk}-email": "billing@acme.test",
            f"contact-{contact.pk}-role": "billing",
            f"contact-{contact.pk}-is_primary": "on",
        },
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.role == "billing" and contact.is_primary
    assert contact.email == "billing@acme.test"

    response = client.post(f"{url}{contact.pk}/remove/")
    assert response.status_code == 200 and "Paula" not in response.content.decode()
    assert not Contact.objects.exists()
    assert list(
        AuditEvent.objects.filter(object_type="orders.contact")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["created", "updated", "removed"]


def test_a_contact_with_a_bad_email_is_refused_and_kept(client, tenant, acme):
    response = client.post(
        f"/customers/{acme.pk}/contacts/",
        {"new-contact-name": "Paula", "new-contact-email": "paula-at-acme"},
    )
    page = refused(response, "Enter a valid email address.")
    assert 'value="paula-at-acme"' in page
    assert not Contact.objects.exists()


def test_another_customers_contact_is_not_found(client, tenant, acme, terms):
    other = CustomerFactory(payment_term=terms)
    contact = Contact.objects.create(organization=tenant, customer=other, name="Olga")
    response = client.post(f"/customers/{acme.pk}/contacts/{contact.pk}/remove/")
    assert response.status_code == 404
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- sales orders -------------------------------------------------------------------


def test_clerk_creates_an_order_with_a_catalog_item_and_a_typed_line(
    client, tenant, acme, drill
):
    response = client.post(
        "/orders/new/",
        order_post(
            acme,
            [
                {"item": "DRL-1", "quantity": "10"},
                {"description": "Installation", "quantity": "2", "unit_price": "150"},
            ],
        ),
    )

    order = SalesOrder.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.pk}/"
    assert order.status == "draft" and order.customer_reference == "PO-77"
    first, second = order.lines.order_by("position")
    # The catalog's price, name and tax rate, applied by the service.
    assert (first.description, first.unit_price, first.tax_rate) == (
        "Cordless drill",
        Decimal("89.90"),
        Decimal("19"),
    )
    assert (second.quantity, second.unit_price) == (Decimal(2), Decimal(150))


def test_adding_and_removing_rows_keeps_the_input_and_saves_nothing(
    client, tenant, acme
):
    typed = order_post(
        acme,
        [
            {"description": "Drill", "quantity": "3", "unit_price": "89.90"},
            {"description": "Case", "quantity": "1", "unit_price": "12.50"},
        ],
    )
    added = client.post("/orders/new/", {**typed, "add_line": "1"})
    removed = client.post("/orders/new/", {**typed, "remove_line": "0"})

    page = added.content.decode()
    assert added.status_code == 200
    assert 'name="lines-TOTAL_FORMS" value="3"' in page
    assert 'value="Drill"' in page and 'value="Case"' in page
    assert 'value="PO-77"' in page
    page = removed.content.decode()
    assert 'name="lines-TOTAL_FORMS" value="1"' in page
    assert 'value="Drill"' not in page and 'value="Case"' in page
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize(
    ("line", "header", "message"),
    [
        (
            {"description": "Drill", "quantity": "-2", "unit_price": "10"},
            {},
            "Quantity must be greater than zero.",
        ),
        (
            {"description": "Drill", "quantity": "2", "unit_price": "10"},
            {"currency": "ABC"},
            "Unknown currency &#x27;ABC&#x27;.",
        ),
        (
            {"description": "Drill", "quantity": "2", "unit_price": "10"},
            {"order_date": "2026-02-30"},
            "&#x27;2026-02-30&#x27; is not a date in the calendar",
        ),
        (
            {"description": "Drill", "quantity": "2", "unit_price": "10.001"},
            {},
            "10.001",
        ),
        (
            {"item": "NOPE-9", "quantity": "2"},
            {},
            "No item with SKU &#x27;NOPE-9&#x27; in the catalog.",
        ),
    ],
)
def test_order_form_refuses_what_the_api_refuses(
    client, tenant, acme, line, header, message
):
    response = client.post("/orders/new/", order_post(acme, [line], **header))

    page = refused(response, message)
    assert 'value="PO-77"' in page  # the input is kept
    assert f'name="customer" value="{acme.pk}"' in page
    assert not SalesOrder.objects.exists()


def test_an_order_for_another_organizations_customer_is_not_found(
    client, tenant, foreign_customer
):
    line = {"description": "Drill", "quantity": "2", "unit_price": "10"}
    response = client.post("/orders/new/", order_post(foreign_customer, [line]))
    assert response.status_code == 404
    assert client.get(f"/orders/new/?customer={foreign_customer.pk}").status_code == 404
    with tenant_context(foreign_customer.organization):
        assert not SalesOrder.objects.exists()


def test_an_order_without_a_customer_says_so(client, tenant):
    line = {"description": "Drill", "quantity": "2", "unit_price": "10"}
    response = client.post("/orders/new/", order_post(None, [line]))
    refused(response, "Choose the customer.")
    assert not SalesOrder.objects.exists()


def test_credit_refusal_shows_the_figures_and_the_override_confirms(
    client, tenant, terms
):
    customer = CustomerFactory(credit_limit=Decimal("1000.00"), payment_term=terms)
    issued_invoice(customer, "800.00", invoice_date=TODAY)
    order = draft_order(customer, ("Drill", "3", "100.00"))

    response = client.post(f"/orders/{order.pk}/confirm/")

    page = refused(
        response,
        "Open balance 800.00 + this order 300.00 exceeds the credit limit of "
        "1000.00 EUR.",
    )
    assert 'name="override_credit_check"' in page
    order.refresh_from_db()
    assert order.status == "draft"

    response = client.post(
        f"/orders/{order.pk}/confirm/", {"override_credit_check": "on"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "confirmed" and order.credit_check_overridden
    event = AuditEvent.objects.get(object_id=str(order.pk), to_status="confirmed")
    assert event.data["overridden"] is True


def test_clerk_cancels_a_draft_order_with_a_reason(client, tenant, acme):
    order = draft_order(acme, ("Drill", "1", "10.00"))
    response = client.post(f"/orders/{order.pk}/cancel/", {"reason": "Duplicate"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled"
    event = AuditEvent.objects.get(object_id=str(order.pk), to_status="cancelled")
    assert event.data == {"reason": "Duplicate"}


def test_a_shipped_order_cannot_be_cancelled(client, tenant, acme):
    order = shipped_order(acme)
    refused(
        client.post(f"/orders/{order.pk}/cancel/"),
        "Goods were shipped on this order; cancel its fulfillments first.",
    )
    order.refresh_from_db()
    assert order.status == "partially_fulfilled"


# --- shipments ----------------------------------------------------------------------


def test_clerk_ships_part_of_an_order_and_marks_it_delivered(client, tenant, acme):
    order = order_confirm(
        order=draft_order(acme, ("Drill", "10", "89.90"), ("Case", "4", "12.50")),
        actor=SYSTEM,
    )
    drills, cases = order.lines.order_by("position")

    page = client.get(f"/orders/{order.pk}/ship/").content.decode()
    assert f'name="ship_{drills.pk}"' in page and f'name="ship_{cases.pk}"' in page
    response = client.post(
        f"/orders/{order.pk}/ship/",
        {
            f"ship_{drills.pk}": "6",
            f"ship_{cases.pk}": "",
            "shipped_date": "2026-03-02",
            "carrier": "DHL",
        },
    )

    assert response.status_code == 302
    fulfillment = Fulfillment.objects.get()
    shipped = [(line.order_line_id, line.quantity) for line in fulfillment.lines.all()]
    assert shipped == [(drills.pk, Decimal(6))]
    order.refresh_from_db()
    drills.refresh_from_db()
    assert order.status == "partially_fulfilled"
    assert drills.quantity_fulfilled == Decimal(6)

    response = client.post(f"/shipments/{fulfillment.pk}/deliver/")
    assert response.status_code == 302
    fulfillment.refresh_from_db()
    assert fulfillment.status == "delivered"


@pytest.mark.parametrize(
    ("quantity", "shipped_date", "message"),
    [
        ("11", "2026-03-02", "Only 10 of line 1 remain to ship; got 11."),
        ("-1", "2026-03-02", "Quantity must be greater than zero."),
        ("2", "2026-02-30", "&#x27;2026-02-30&#x27; is not a date in the calendar"),
        ("", "2026-03-02", "Ship at least one line."),
    ],
)
def test_shipment_form_refuses_what_the_api_refuses(
    client, tenant, acme, quantity, shipped_date, message
):
    order = order_confirm(order=draft_order(acme, ("Drill", "10", "1")), actor=SYSTEM)
    line = order.lines.get()
    response = client.post(
        f"/orders/{order.pk}/ship/",
        {f"ship_{line.pk}": quantity, "shipped_date": shipped_date},
    )
    page = refused(response, message)
    assert f'value="{shipped_date}"' in page
    assert not Fulfillment.objects.exists()
    line.refresh_from_db()
    assert line.quantity_fulfilled == 0


def test_another_organizations_order_is_not_found(client, tenant, other_org):
    with tenant_context(other_org):
        order = order_confirm(
            order=draft_order(CustomerFactory(), ("Drill", "1", "1")), actor=SYSTEM
        )
        line = order.lines.get()
    for url in (f"/orders/{order.pk}/ship/", f"/orders/{order.pk}/invoice/"):
        assert client.get(url).status_code == 404
    response = client.post(
        f"/orders/{order.pk}/ship/",
        {f"ship_{line.pk}": "1", "shipped_date": "2026-03-02"},
    )
    assert response.status_code == 404
    assert client.post(f"/orders/{order.pk}/confirm/").status_code == 404
    with tenant_context(other_org):
        assert not Fulfillment.objects.exists()


# --- invoices -----------------------------------------------------------------------


def test_clerk_creates_a_direct_invoice(client, tenant, acme):
    response = client.post(
        "/invoices/new/",
        invoice_post(
            acme,
            [
                {
                    "description": "Consulting",
                    "quantity": "3",
                    "unit_price": "120.00",
                    "tax_rate": "19",
                },
                {"description": "Travel", "quantity": "1", "unit_price": "45.50"},
            ],
        ),
    )

    invoice = Invoice.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/invoices/{invoice.pk}/"
    assert invoice.status == "draft"
    # 360.00 + 68.40 tax + 45.50, due on the customer's net 14 terms
    assert invoice.total == Decimal("473.90")
    assert invoice.due_date == date(2026, 3, 16)


@pytest.mark.parametrize(
    ("line", "header", "message"),
    [
        (
            {"description": "Goods", "quantity": "-1", "unit_price": "10"},
            {},
            "Quantity must be greater than zero.",
        ),
        (
            {"description": "Goods", "quantity": "1", "unit_price": "10"},
            {"currency": "EUX"},
            "Unknown currency &#x27;EUX&#x27;.",
        ),
        (
            {"description": "Goods", "quantity": "1", "unit_price": "10"},
            {"invoice_date": "2026-02-30"},
            "&#x27;2026-02-30&#x27; is not a date in the calendar",
        ),
        (
            {"description": "Goods", "quantity": "1", "unit_price": "10"},
            {"due_date": "2026-03-01"},
            "Due date is before the invoice date.",
        ),
    ],
)
def test_invoice_form_refuses_what_the_api_refuses(
    client, tenant, acme, line, header, message
):
    data = invoice_post(acme, [line])
    data.update(header)
    page = refused(client.post("/invoices/new/", data), message)
    assert 'value="Goods"' in page
    assert not Invoice.objects.exists()


def test_an_invoice_for_another_organizations_customer_is_not_found(
    client, tenant, foreign_customer
):
    line = {"description": "Goods", "quantity": "1", "unit_price": "10"}
    response = client.post("/invoices/new/", invoice_post(foreign_customer, [line]))
    assert response.status_code == 404
    with tenant_context(foreign_customer.organization):
        assert not Invoice.objects.exists()


def test_clerk_invoices_part_of_an_orders_shipped_lines(client, tenant, acme):
    order = shipped_order(acme)
    drills = order.lines.get(position=1)

    page = client.get(f"/orders/{order.pk}/invoice/").content.decode()
    assert f'name="bill_{drills.pk}" value="6"' in page  # shipped, not invoiced
    response = client.post(
        f"/orders/{order.pk}/invoice/",
        {f"bill_{drills.pk}": "4", "invoice_date": "2026-03-02"},
    )

    invoice = Invoice.objects.get()
    assert response.status_code == 302
    assert invoice.sales_order == order and invoice.total == Decimal("359.60")
    drills.refresh_from_db()
    assert drills.quantity_invoiced == Decimal(4)


def test_invoicing_more_than_shipped_is_refused(client, tenant, acme):
    order = shipped_order(acme)
    drills = order.lines.get(position=1)
    response = client.post(
        f"/orders/{order.pk}/invoice/",
        {f"bill_{drills.pk}": "7", "invoice_date": "2026-03-02"},
    )
    refused(response, "6 of line 1 are shipped and not invoiced; got 7.")
    assert not Invoice.objects.exists()
    drills.refresh_from_db()
    assert drills.quantity_invoiced == 0


def test_clerk_edits_a_draft_and_the_totals_follow(client, tenant, acme):
    client.post(
        "/invoices/new/",
        invoice_post(
            acme, [{"description": "Goods", "quantity": "1", "unit_price": "100"}]
        ),
    )
    invoice = Invoice.objects.get()
    form = client.get(f"/invoices/{invoice.pk}/edit/").content.decode()
    assert 'name="lines-0-quantity" value="1"' in form
    assert 'name="lines-0-unit_price" value="100.00"' in form

    response = client.post(
        f"/invoices/{invoice.pk}/edit/",
        invoice_post(
            acme,
            [{"description": "Goods", "quantity": "2", "unit_price": "100"}],
            due_date="2026-04-30",
        ),
    )

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.total == Decimal("200.00")
    assert invoice.due_date == date(2026, 4, 30)
    assert invoice.lines.get().quantity == 2
    assert invoice.instalments.get().amount == Decimal("200.00")


def test_an_issued_invoice_is_not_edited(client, tenant, acme):
    invoice = issued_invoice(acme, "100.00", invoice_date=TODAY)
    response = client.post(
        f"/invoices/{invoice.pk}/edit/",
        invoice_post(
            acme, [{"description": "Goods", "quantity": "9", "unit_price": "100"}]
        ),
    )
    refused(response, "only drafts change")
    invoice.refresh_from_db()
    assert invoice.total == Decimal("100.00")


def _draft_invoice(client, customer, amount="250.00"):
    client.post(
        "/invoices/new/",
        invoice_post(
            customer, [{"description": "Goods", "quantity": "1", "unit_price": amount}]
        ),
    )
    return Invoice.objects.latest("pk")


def test_issue_with_email_sends_it_to_the_billing_contact(
    client, tenant, acme, django_capture_on_commit_callbacks
):
    Contact.objects.create(
        organization=tenant, customer=acme, name="Bill", email="bill@acme.test"
    )
    invoice = _draft_invoice(client, acme)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/invoices/{invoice.pk}/issue/", {"email": "on"})

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.number
    assert invoice.open_amount == Decimal("250.00")
    (message,) = mail.outbox
    assert message.to == ["bill@acme.test"]
    assert invoice.number in message.subject


def test_issue_without_email_sends_nothing(
    client, tenant, acme, django_capture_on_commit_callbacks
):
    invoice = _draft_invoice(client, acme)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/invoices/{invoice.pk}/issue/")

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert not mail.outbox and not InvoiceDelivery.objects.exists()
    assert "Not emailed" in client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert customer_balances(customer=acme)[0].balance == Decimal("250.00")


def test_issuing_twice_says_so(client, tenant, acme):
    invoice = issued_invoice(acme, "100.00", invoice_date=TODAY)
    refused(client.post(f"/invoices/{invoice.pk}/issue/"), "is already open")


def test_clerk_voids_an_issued_invoice(client, tenant, acme):
    invoice = issued_invoice(acme, "100.00", invoice_date=TODAY)
    response = client.post(
        f"/invoices/{invoice.pk}/void/", {"reason": "Wrong customer"}
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "void" and invoice.open_amount == 0
    assert customer_balances(customer=acme) == [] or all(
        b.balance == 0 for b in customer_balances(customer=acme)
    )


def test_the_void_form_is_offered_only_where_voiding_can_succeed(client, tenant, acme):
    untouched = issued_invoice(acme, "100.00", invoice_date=TODAY)
    partly_paid = issued_invoice(acme, "200.00", invoice_date=TODAY)
    received_payment(
        acme, "50.00", received_date=TODAY, allocations=[(partly_paid, "50.00")]
    )

    def offered(invoice) -> bool:
        page = client.get(f"/invoices/{invoice.pk}/").content.decode()
        return 'id="void-form"' in page

    assert offered(untouched)
    # 50.00 of it is paid: a credit note is the way, and its link is there.
    assert not offered(partly_paid)
    page = client.get(f"/invoices/{partly_paid.pk}/").content.decode()
    assert f'href="/invoices/{partly_paid.pk}/credit/"' in page
    client.post(f"/invoices/{untouched.pk}/void/", {"reason": "Wrong customer"})
    assert not offered(untouched)  # void already


def test_void_with_an_impossible_date_writes_nothing(client, tenant, acme):
    invoice = issued_invoice(acme, "100.00", invoice_date=TODAY)
    response = client.post(f"/invoices/{invoice.pk}/void/", {"void_date": "2026-02-30"})
    refused(response, "&#x27;2026-02-30&#x27; is not a date in the calendar")
    invoice.refresh_from_db()
    assert invoice.status == "open"


def test_another_organizations_invoice_is_not_found(client, tenant, other_org):
    with tenant_context(other_org):
        invoice = issued_invoice(CustomerFactory(), "100.00", invoice_date=TODAY)
    for url in ("issue", "void", "credit", "edit"):
        assert client.post(f"/invoices/{invoice.pk}/{url}/").status_code == 404
    with tenant_context(other_org):
        invoice.refresh_from_db()
        assert invoice.status == "open" and not CreditNote.objects.exists()


# --- credit notes -------------------------------------------------------------------


def test_clerk_credits_an_amount_with_a_reason(client, tenant, acme):
    invoice = issued_invoice(acme, "500.00", invoice_date=TODAY)
    response = client.post(
        f"/invoices/{invoice.pk}/credit/",
        {
            "credit_date": "2026-03-02",
            "reason": "Damaged in transit",
            "mode": "amount",
            "amount": "120.00",
            "tax_rate": "",
        },
    )
    assert response.status_code == 302
    credit_note = CreditNote.objects.get()
    assert credit_note.total == Decimal("120.00")
    assert credit_note.reason == "Damaged in transit"
    invoice.refresh_from_db()
    assert invoice.open_amount == Decimal("380.00")


def test_clerk_credits_quantities_of_the_invoices_lines(client, tenant, acme):
    order = shipped_order(acme)
    client.post(
        f"/orders/{order.pk}/invoice/",
        {f"bill_{order.lines.get(position=1).pk}": "6", "invoice_date": "2026-03-02"},
    )
    invoice = Invoice.objects.get()
    client.post(f"/invoices/{invoice.pk}/issue/")
    line = invoice.lines.get()

    response = client.post(
        f"/invoices/{invoice.pk}/credit/",
        {
            "credit_date": "2026-03-02",
            "reason": "Two drills returned",
            "mode": "lines",
            f"credit_{line.pk}": "2",
        },
    )

    assert response.status_code == 302
    assert CreditNote.objects.get().total == Decimal("179.80")
    invoice.refresh_from_db()
    assert invoice.open_amount == Decimal("359.60")  # 539.40 - 179.80


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": "600.00"}, "exceeds the invoice&#x27;s open amount 500.00 EUR"),
        ({"amount": "-5"}, "Unit price must not be negative."),
        ({"amount": "0"}, "Credit must be positive."),
        ({"reason": ""}, "This field is required."),
        ({"credit_date": "2026-02-30"}, "is not a date in the calendar"),
        ({"credit_date": "2025-12-01"}, "cannot be dated before its invoice"),
    ],
)
def test_credit_note_form_refuses_what_the_api_refuses(
    client, tenant, acme, changes, message
):
    invoice = issued_invoice(acme, "500.00", invoice_date=TODAY)
    data = {
        "credit_date": "2026-03-02",
        "reason": "Goodwill",
        "mode": "amount",
        "amount": "50.00",
        **changes,
    }
    refused(client.post(f"/invoices/{invoice.pk}/credit/", data), message)
    assert not CreditNote.objects.exists()
    invoice.refresh_from_db()
    assert invoice.open_amount == Decimal("500.00")


def test_the_pages_forms_post_to_the_pages_not_to_the_api(client, tenant, acme):
    """The API router names its actions "order-confirm", "invoice-void"…"""
    order = draft_order(acme, ("Drill", "1", "10.00"))
    shipped = shipped_order(acme)
    invoice = _draft_invoice(client, acme)
    pages = {
        url: client.get(url)
        for url in (
            "/customers/new/",
            f"/customers/{acme.pk}/",
            f"/customers/{acme.pk}/edit/",
            "/orders/new/",
            f"/orders/{order.pk}/",
            f"/orders/{shipped.pk}/ship/",
            f"/orders/{shipped.pk}/invoice/",
            "/invoices/new/",
            f"/invoices/{invoice.pk}/",
            f"/invoices/{invoice.pk}/edit/",
        )
    }
    for url, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200, url
        assert 'action="/api/' not in page and 'hx-post="/api/' not in page, url
    assert (
        f'action="/orders/{order.pk}/confirm/"'
        in pages[f"/orders/{order.pk}/"].content.decode()
    )
    assert (
        f'action="/invoices/{invoice.pk}/issue/"'
        in pages[f"/invoices/{invoice.pk}/"].content.decode()
    )


def test_a_blank_row_is_no_line_and_no_rows_at_all_is_refused(client, tenant, acme):
    line = {"description": "Drill", "quantity": "3", "unit_price": "10"}
    blank = {"item": "", "description": "", "quantity": "", "unit_price": ""}

    none = client.post("/orders/new/", order_post(acme, [blank, blank]))
    refused(none, "An order needs at least one line.")
    assert not SalesOrder.objects.exists()

    response = client.post("/orders/new/", order_post(acme, [blank, line]))
    assert response.status_code == 302
    assert SalesOrder.objects.get().lines.get().quantity == 3


def test_an_error_on_the_second_filled_row_is_shown_on_that_row(client, tenant, acme):
    """Blank rows are skipped, so the service's lines[1] is the third row here."""
    good = {"description": "Drill", "quantity": "3", "unit_price": "10"}
    blank = {"description": "", "quantity": "", "unit_price": ""}
    bad = {"description": "Case", "quantity": "-4", "unit_price": "10"}
    response = client.post("/invoices/new/", invoice_post(acme, [good, blank, bad]))
    page = refused(response, "Quantity must be greater than zero.")
    row_of_error = page.split('class="line-row has-error"')[1]
    assert 'value="Case"' in row_of_error.split("</tr>")[0]
    assert not Invoice.objects.exists()


def test_a_collector_may_not_sell_or_bill(org, tenant, acme):
    collector = Client()
    collector.force_login(member(org, Role.COLLECTOR))
    order = draft_order(acme, ("Drill", "1", "10.00"))
    invoice = issued_invoice(acme, "100.00", invoice_date=TODAY)
    posts = {
        "/orders/new/": order_post(
            acme, [{"description": "Drill", "quantity": "1", "unit_price": "1"}]
        ),
        f"/orders/{order.pk}/confirm/": {},
        f"/orders/{order.pk}/cancel/": {},
        f"/invoices/{invoice.pk}/void/": {},
        f"/invoices/{invoice.pk}/credit/": {
            "credit_date": "2026-03-02",
            "reason": "Goodwill",
            "mode": "amount",
            "amount": "10",
        },
        f"/customers/{acme.pk}/contacts/": {"new-contact-name": "Eve"},
    }
    for url, data in posts.items():
        assert collector.post(url, data).status_code == 403, url
    order.refresh_from_db()
    invoice.refresh_from_db()
    assert order.status == "draft" and invoice.status == "open"
    assert SalesOrder.objects.count() == 1
    assert not CreditNote.objects.exists() and not Contact.objects.exists()
    page = collector.get(f"/invoices/{invoice.pk}/").content.decode()
    assert 'id="void-form"' not in page
    assert f'href="/invoices/{invoice.pk}/credit/"' not in page
