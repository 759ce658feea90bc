"""Another organization's ids, anywhere, answer 404; no credentials answer 401."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from collecting.models import DunningRun, EmailEvent, Notice, SuppressedAddress
from collecting.services import accounts, commitments, delivery, policies
from invoicing.models import Invoice, LedgerEntry
from invoicing.services.invoices import LineInput, credit_note_create
from o2c.models import (
    AuditEvent,
    Event,
    FxRate,
    Job,
    OrganizationAPIKey,
    WebhookDelivery,
    WebhookEndpoint,
)
from o2c.tenancy import all_tenants, tenant_context
from orders.models import Customer, Item, SalesOrder
from orders.services.master import contact_create, item_create
from orders.services.orders import (
    OrderLineInput,
    fulfillment_create,
    order_confirm,
    order_create,
)
from reconciliation.models import (
    Allocation,
    CustomerBankAccount,
    Payment,
    StatementLine,
    WriteOff,
)
from reconciliation.services.payments import write_off_create
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment
from tests.reconciliation.bank import entry, import_statements, main_account, statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim(org):
    """A small but complete book in ``org``: one row of every kind."""
    with tenant_context(org):
        customer = CustomerFactory()
        contact_create(customer=customer, name="Ann", email="ann@x.test", actor=SYSTEM)
        item = item_create(
            sku="W1", name="Widget", unit_price="10.00", currency="EUR", actor=SYSTEM
        )
        order = order_create(
            customer=customer,
            order_date=date(2026, 1, 2),
            lines=[OrderLineInput(quantity=Decimal(2), item=item)],
            actor=SYSTEM,
        )
        order_confirm(order=order, actor=SYSTEM)
        line = order.lines.get()
        fulfillment = fulfillment_create(
            order=order, lines=[(line, Decimal(1))], shipped_date=date(2026, 1, 3),
            actor=SYSTEM,
        )  # fmt: skip
        invoice = issued_invoice(customer, "300.00")
        credit = credit_note_create(
            invoice=invoice, credit_date=date(2026, 1, 5), reason="r",
            lines=[LineInput("x", quantity=Decimal(1), unit_price=Decimal(10))],
            actor=SYSTEM,
        )  # fmt: skip
        payment = received_payment(customer, "100.00", allocations=[(invoice, "50.00")])
        write_off = write_off_create(
            invoice=invoice, amount="1.00", write_off_date=date(2026, 1, 20),
            reason="rounding", actor=SYSTEM,
        )  # fmt: skip
        key, _ = OrganizationAPIKey.objects.create_key(name="erp", organization=org)
        job = Job.objects.create(organization=org, kind="import_invoices")
        fx_rate = FxRate.objects.create(
            organization=org, currency="USD", date=date(2026, 1, 2), rate=Decimal(1)
        )
        collections = _collections_rows(org, customer)
        collections.update(_delivery_rows(org, customer))
        bank = _bank_rows(customer)
        return {
            "payment-term": customer.payment_term_id,
            "customer": customer.pk,
            "item": item.pk,
            "order": order.pk,
            "order_line": line.pk,
            "fulfillment": fulfillment.pk,
            "invoice": invoice.pk,
            "credit-note": credit.pk,
            "ledger-entry": LedgerEntry.objects.filter(invoice=invoice).first().pk,
            "payment": payment.pk,
            "allocation": Allocation.objects.get(payment=payment).pk,
            "write-off": write_off.pk,
            "api-key": key.pk,
            "import": job.pk,
            "fx-rate": fx_rate.pk,
            **collections,
            **bank,
            "member": org.memberships.first().pk if org.memberships.exists() else 0,
        }


def _bank_rows(customer):
    account = main_account()
    imported = import_statements(account, [statement([entry("20.00")])])
    line = StatementLine.objects.get(pk=imported.new_credit_line_ids[0])
    known = CustomerBankAccount.objects.create(
        organization=customer.organization, customer=customer, account="DE0212"
    )
    job = Job.objects.create(
        organization=customer.organization, kind="import_bank_statement"
    )
    return {
        "bank-account": account.pk,
        "bank-statement": line.statement_id,
        "bank-statement-job": job.pk,
        "statement-line": line.pk,
        "customer-bank-account": known.pk,
    }


def _collections_rows(org, customer):
    policy = policies.policy_create(
        actor=SYSTEM,
        name="P",
        is_default=True,
        steps=[{"name": "Call", "offset_days": 0, "channel": "call_task"}],
    )
    endpoint = WebhookEndpoint.objects.create(
        organization=org, url="https://example.com/hook", secret="s"
    )
    event = Event.objects.create(
        id="evt_1",
        organization=org,
        type="notice.sent",
        created=timezone.now(),
        api_version="v1",
        object_type="notice",
        object_id="1",
        data={"id": 1},
    )
    return {
        "dunning-policy": policy.pk,
        "dunning-step": policy.steps.get().pk,
        "dunning-run": DunningRun.objects.create(
            organization=org, run_date=date(2026, 1, 20)
        ).pk,
        "notice": Notice.objects.create(
            organization=org,
            customer=customer,
            channel="email",
            currency="EUR",
            notice_date=date(2026, 1, 20),
        ).pk,
        "activity": accounts.activity_log(
            customer=customer, kind="note", note="x", actor=SYSTEM
        ).pk,
        "promise": commitments.promise_create(
            customer=customer,
            invoices=[issued_invoice(customer, "10.00")],
            amount="10.00",
            promised_date=org.today(),
            actor=SYSTEM,
        ).pk,
        "dispute": commitments.dispute_open(
            customer=customer,
            invoices=[issued_invoice(customer, "20.00")],
            reason_code="other",
            actor=SYSTEM,
        ).pk,
        "payment-plan": commitments.payment_plan_create(
            customer=customer,
            invoices=[issued_invoice(customer, "30.00")],
            count=2,
            actor=SYSTEM,
        ).pk,
        "email-template": policies.template_create(
            actor=SYSTEM, name="T", subject="S", body="B"
        ).pk,
        "webhook-endpoint": endpoint.pk,
        "webhook-delivery": WebhookDelivery.objects.create(
            organization=org, endpoint=endpoint, event=event
        ).pk,
        "event": event.pk,
    }


def _delivery_rows(org, customer):
    provider_endpoint, _ = delivery.email_provider_endpoint_create(
        provider="mailgun", signing_key="k", actor=SYSTEM
    )
    event = EmailEvent.objects.create(
        organization=org,
        endpoint=provider_endpoint,
        provider="mailgun",
        event_id="e1",
        kind="hard_bounce",
        recipient="ap@victim.example",
        customer=customer,
        raw={},
    )
    suppressed = SuppressedAddress.objects.create(
        organization=org,
        address="ap@victim.example",
        reason="hard_bounce",
        customer=customer,
        event=event,
        suppressed_at=event.received_at,
    )
    return {
        "email-provider-endpoint": provider_endpoint.pk,
        "email-event": event.pk,
        "suppressed-address": suppressed.pk,
    }


def api_routes():
    """(route template, url name) of every /api/v1/ endpoint."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                yield route, pattern.name

    return sorted(set(walk(get_resolver().url_patterns)))


def concrete(route: str, name: str, ids: dict) -> str:
    """Fill a route's id with the victim's row of the matching kind."""
    if "pk" in route:
        basename = max(
            (k for k in ids if name.startswith(k + "-")), key=len, default=None
        )
        assert basename, f"add a row for {name} to the victim fixture"
    for token in ("(?P<pk>[^/.]+)", "(?P<pk>[^/]+)", "<int:pk>", "<pk>"):
        if token in route:
            route = route.replace(token, str(ids[basename]))
    route = route.replace("(?P<delivery_id>[0-9]+)", str(ids["webhook-delivery"]))
    return "/" + route.replace("^", "").replace("$", "").replace(
        "\\.(?P<format>[a-z0-9]+)/?", ""
    )


def detail_routes(ids):
    for route, name in api_routes():
        if "pk" not in route or "format" in route:
            continue
        yield concrete(route, name, ids), name


def test_every_detail_route_is_covered(victim):
    names = {name for _, name in detail_routes(victim)}
    assert {
        "invoice-detail",
        "payment-reverse",
        "customer-balance",
        "import-detail",
    } <= names


def test_foreign_ids_in_paths_answer_404(victim, other_api):
    for path, _name in detail_routes(victim):
        for method in ("get", "post", "patch"):
            response = getattr(other_api, method)(path, {}, format="json")
            assert response.status_code in (404, 405), (method, path, response.content)
            if response.status_code == 404:
                assert response.json() == {
                    "error": {
                        "code": "not_found",
                        "message": "Not found.",
                        "request_id": response["X-Request-ID"],
                    }
                }


def test_foreign_ids_in_queries_answer_404(victim, other_api):
    queries = [
        f"/api/v1/invoices/?customer={victim['customer']}",
        f"/api/v1/orders/?customer={victim['customer']}",
        f"/api/v1/payments/?customer={victim['customer']}",
        f"/api/v1/credit-notes/?invoice={victim['invoice']}",
        f"/api/v1/ledger-entries/?invoice={victim['invoice']}",
        f"/api/v1/ledger-entries/?customer={victim['customer']}",
        f"/api/v1/allocations/?payment={victim['payment']}",
        f"/api/v1/invoices/?sales_order={victim['order']}",
    ]
    for query in queries:
        response = other_api.get(query)
        assert response.status_code == 404, (query, response.content)


def test_foreign_ids_in_bodies_answer_404_and_write_nothing(
    victim, other_api, other_org
):
    with tenant_context(other_org):
        own = CustomerFactory()
    bodies = {
        "/api/v1/customers/": {"name": "X", "payment_term": victim["payment-term"]},
        "/api/v1/orders/": {
            "customer": victim["customer"], "order_date": "2026-01-01",
            "lines": [{"quantity": "1", "unit_price": "1.00", "description": "x"}],
        },
        "/api/v1/fulfillments/": {
            "order": victim["order"], "shipped_date": "2026-01-01",
            "lines": [{"order_line": victim["order_line"], "quantity": "1"}],
        },
        "/api/v1/invoices/": {
            "customer": own.pk, "invoice_date": "2026-01-01",
            "lines": [{"item": victim["item"], "quantity": "1", "unit_price": "1.00"}],
        },
        "/api/v1/credit-notes/": {
            "invoice": victim["invoice"], "credit_date": "2026-02-01", "reason": "x",
            "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}],
        },
        "/api/v1/payments/": {
            "customer": own.pk, "amount": "5.00", "currency": "EUR",
            "received_date": "2026-01-01",
            "allocations": [{"invoice": victim["invoice"], "amount": "5.00"}],
        },
        "/api/v1/write-offs/": {
            "invoice": victim["invoice"], "amount": "1.00",
            "write_off_date": "2026-02-01", "reason": "x",
        },
    }  # fmt: skip
    counts_before = _counts()
    for url, body in bodies.items():
        response = other_api.post(url, body, format="json")
        assert response.status_code == 404, (url, response.content)
        assert response.json()["error"]["fields"], url
    assert _counts() == counts_before


def _counts():
    models = (Customer, Item, SalesOrder, Invoice, LedgerEntry, Payment, WriteOff)
    with all_tenants():
        return {m.__name__: m.unscoped.count() for m in models} | {
            "audit": AuditEvent.unscoped.count()
        }


def test_no_credentials_answer_401_everywhere(victim):
    anonymous = APIClient()
    for route, name in api_routes():
        if "format" in route:
            continue
        path = concrete(route, name, victim)
        for method in ("get", "post"):
            response = getattr(anonymous, method)(path, {}, format="json")
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "not_authenticated"


def test_a_revoked_key_is_refused(org, victim):
    key, secret = OrganizationAPIKey.objects.create_key(name="old", organization=org)
    key.revoked = True
    key.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    assert client.get("/api/v1/invoices/").status_code == 401


def test_an_unknown_api_path_answers_json(api, settings):
    settings.DEBUG = False
    response = api.get("/api/v1/invoices/1.5/")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error == {
        "code": "not_found",
        "message": "Not found.",
        "request_id": response["X-Request-ID"],
    }
