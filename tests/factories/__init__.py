"""Factories for tests. Business rows are created through services where it matters
(issued invoices, payments) so the ledger stays consistent; plain rows use factory_boy.
"""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from invoicing.services.invoices import LineInput, invoice_create, invoice_issue
from o2c.models import Membership, Organization, Role
from o2c.services import Actor
from o2c.tenancy import current_organization
from orders.models import Customer, PaymentTerm
from reconciliation.services.payments import AllocationInput, payment_create

SYSTEM = Actor.system("tests")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")
    base_currency = "EUR"
    timezone = "Europe/Berlin"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-1")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def member(organization, role=Role.FINANCE, **user_fields):
    user = UserFactory(**user_fields)
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


class PaymentTermFactory(factory.django.DjangoModelFactory):
    """Needs an organization in context (``tenant_context``) like every tenant row."""

    class Meta:
        model = PaymentTerm

    organization = factory.LazyFunction(current_organization)
    name = factory.Sequence(lambda n: f"Net 30 #{n}")
    kind = PaymentTerm.Kind.NET
    days = 30


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    organization = factory.LazyFunction(current_organization)
    number = factory.Sequence(lambda n: f"C{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    currency = "EUR"
    payment_term = factory.SubFactory(PaymentTermFactory)


def issued_invoice(
    customer,
    amount="100.00",
    *,
    invoice_date=date(2026, 1, 1),
    currency=None,
    due_date=None,
):
    invoice = invoice_create(
        customer=customer,
        invoice_date=invoice_date,
        currency=currency,
        due_date=due_date,
        lines=[
            LineInput(
                description="Goods", quantity=Decimal(1), unit_price=Decimal(amount)
            )
        ],
        actor=SYSTEM,
    )
    return invoice_issue(invoice=invoice, actor=SYSTEM)


def received_payment(
    customer, amount, *, received_date=date(2026, 1, 15), currency=None, allocations=()
):
    return payment_create(
        customer=customer,
        amount=Decimal(amount),
        currency=currency or customer.currency,
        received_date=received_date,
        allocations=[
            AllocationInput(invoice, Decimal(a)) for invoice, a in allocations
        ],
        actor=SYSTEM,
    )
