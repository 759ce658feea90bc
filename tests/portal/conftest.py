from datetime import date
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache

from invoicing.models import PortalAccess
from invoicing.portal import portal_link_issue
from o2c.tenancy import tenant_context
from orders.models import Contact
from reconciliation.models import BankAccount
from tests.factories import CustomerFactory, OrganizationFactory, issued_invoice

IBAN = "DE89370400440532013000"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit counters live in the cache: each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def books(db):
    """Two organizations; Nordwind has two customers, the first with three
    invoices (one paid) and a default EUR bank account."""
    nordwind = OrganizationFactory(name="Nordwind GmbH", locale="de")
    other = OrganizationFactory(name="Elsewhere Ltd")
    with tenant_context(nordwind):
        BankAccount.objects.create(
            organization=nordwind, name="Main", iban=IBAN, bic="COBADEFFXXX",
            currency="EUR", is_default=True,
        )  # fmt: skip
        acme = CustomerFactory(name="Acme Metals", email="ap@acme.example")
        Contact.objects.create(
            organization=nordwind, customer=acme, name="Ann Able",
            email="ann@acme.example", role=Contact.Role.BILLING,
        )  # fmt: skip
        first = issued_invoice(acme, "1234.50", invoice_date=date(2026, 11, 1))
        second = issued_invoice(acme, "800.00", invoice_date=date(2026, 11, 10))
        bolt = CustomerFactory(name="Bolt & Nut", email="ap@bolt.example")
        bolt_invoice = issued_invoice(bolt, "99.00", invoice_date=date(2026, 11, 1))
        link = portal_link_issue(customer=acme, kind=PortalAccess.Kind.NOTICE)
        bolt_link = portal_link_issue(customer=bolt, kind=PortalAccess.Kind.NOTICE)
    with tenant_context(other):
        stranger = CustomerFactory(name="Stranger AG", email="ap@stranger.example")
        issued_invoice(stranger, "5000.00", invoice_date=date(2026, 11, 1))
        other_link = portal_link_issue(customer=stranger, kind=PortalAccess.Kind.NOTICE)
    return {
        "org": nordwind, "other": other, "acme": acme, "bolt": bolt,
        "first": first, "second": second, "bolt_invoice": bolt_invoice,
        "link": path_of(link), "bolt_link": path_of(bolt_link),
        "other_link": path_of(other_link),
    }  # fmt: skip


def enter(client, link: str):
    """Open a portal link; returns the response of the page it leads to."""
    return client.get(link, follow=True)
