"""What a customer does in the portal reaches the collector: disputes and promises
pause dunning through collecting's services, show on the timeline and in My
day, and go out as events; remittance advice becomes a matching hint."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from collecting.models import Dispute, PromiseToPay, Source, WorklistEntry
from collecting.selectors import customer_timeline, paused_invoices
from collecting.services.worklist import explain, worklist_rebuild
from invoicing.portal import portal_settings_update
from o2c.models import Event
from o2c.tenancy import tenant_context
from reconciliation.models import RemittanceAdvice
from tests.factories import SYSTEM
from tests.portal.conftest import enter

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%test\n"


def test_a_dispute_pauses_dunning_and_reaches_the_collector(client, books):
    invoice = books["first"]
    enter(client, books["link"])
    answer = client.post(
        f"/portal/invoices/{invoice.pk}/dispute/",
        {
            "reason": "quantity",
            "message": "We received 8 pallets, not 10.",
            "attachment": SimpleUploadedFile("delivery-note.pdf", PDF),
        },
        follow=True,
    )
    assert answer.status_code == 200
    assert "stopped reminders" in answer.content.decode()
    with tenant_context(books["org"]):
        dispute = Dispute.objects.get()
        assert dispute.source == Source.PORTAL
        assert dispute.description == "We received 8 pallets, not 10."
        assert dispute.attachment.read() == PDF
        assert f"disputes/{books['org'].pk}/" in dispute.attachment.name
        assert paused_invoices(invoice_ids=[invoice.pk]) == {invoice.pk: "disputed"}
        event = Event.objects.get(type="dispute.opened")
        assert event.data["source"] == "portal"
        assert event.data["invoices"] == [invoice.pk]
        (item,) = [
            e for e in customer_timeline(customer=books["acme"]) if e.kind == "dispute"
        ]
        assert item.title == "Dispute: Quantity differs (from the customer portal)"
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=books["acme"])
        assert entry.needs_action
        assert entry.score_parts["portal_dispute"] == 20
        assert ("disputed in the portal", 20) in [
            (str(label), points) for label, points in explain(entry)
        ]


def test_a_dispute_of_some_lines_keeps_them(client, books):
    from tests.factories import issued_invoice

    with tenant_context(books["org"]):
        invoice = issued_invoice(books["acme"], "10.00")
        invoice.lines.create(
            organization=books["org"], position=2, description="Freight",
            quantity=1, unit_price=Decimal("5"), net_amount=Decimal("5"),
        )  # fmt: skip
        freight = invoice.lines.get(position=2)
    enter(client, books["link"])
    client.post(
        f"/portal/invoices/{invoice.pk}/dispute/",
        {"reason": "pricing", "message": "Freight was free.", "lines": [freight.pk]},
    )
    with tenant_context(books["org"]):
        assert Dispute.objects.get().line_ids == [freight.pk]


def test_a_bad_attachment_names_the_field_and_keeps_the_message(
    client, books, settings
):
    settings.PORTAL_ATTACHMENT_MAX_BYTES = 10
    invoice = books["first"]
    enter(client, books["link"])
    too_big = client.post(
        f"/portal/invoices/{invoice.pk}/dispute/",
        {
            "reason": "other",
            "message": "Keep me",
            "attachment": SimpleUploadedFile("note.pdf", PDF * 3),
        },
    )
    assert too_big.status_code == 422
    assert "too large" in too_big.content.decode()
    assert "Keep me" in too_big.content.decode()
    settings.PORTAL_ATTACHMENT_MAX_BYTES = 5_000_000
    disguised = client.post(
        f"/portal/invoices/{invoice.pk}/dispute/",
        {
            "reason": "other",
            "message": "x",
            "attachment": SimpleUploadedFile("run.pdf", b"#!/bin/sh\necho"),
        },
    )
    assert disguised.status_code == 422
    assert "Attach a PDF, PNG or JPEG file." in disguised.content.decode()
    with tenant_context(books["org"]):
        assert not Dispute.objects.exists()


def test_a_promise_within_the_window_pauses_dunning(client, books):
    invoice = books["second"]
    with tenant_context(books["org"]):
        today = books["org"].today()
        portal_settings_update(actor=SYSTEM, promise_window_days=14)
    enter(client, books["link"])
    late = client.post(
        f"/portal/invoices/{invoice.pk}/promise/",
        {"promised_date": today + timedelta(days=15), "amount": "800.00"},
    )
    assert late.status_code == 422
    assert "within the next 14 days" in late.content.decode()
    client.post(
        f"/portal/invoices/{invoice.pk}/promise/",
        {"promised_date": today + timedelta(days=10), "amount": "800.00"},
    )
    with tenant_context(books["org"]):
        promise = PromiseToPay.objects.get()
        assert (promise.source, promise.amount) == (Source.PORTAL, Decimal("800.00"))
        assert promise.promised_date == today + timedelta(days=10)
        assert paused_invoices(invoice_ids=[invoice.pk]) == {invoice.pk: "promised"}
        event = Event.objects.get(type="promise.made")
        assert event.data["source"] == "portal"
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=books["acme"])
        assert entry.score_parts["portal_promise"] == 15


def test_actions_the_organization_turned_off_are_not_offered(client, books):
    with tenant_context(books["org"]):
        portal_settings_update(
            actor=SYSTEM, offer_dispute=False, offer_promise=False,
            offer_remittance=False,
        )  # fmt: skip
    invoice = books["first"]
    enter(client, books["link"])
    page = client.get(f"/portal/invoices/{invoice.pk}/").content.decode()
    assert "/dispute/" not in page and "/promise/" not in page
    refused = client.post(
        f"/portal/invoices/{invoice.pk}/dispute/", {"reason": "other", "message": "x"}
    )
    assert refused.status_code == 404
    assert client.get("/portal/remittance/").status_code == 404
    with tenant_context(books["org"]):
        assert not Dispute.objects.exists()


def test_remittance_advice_goes_on_the_timeline_and_out_as_an_event(client, books):
    first, second = books["first"], books["second"]
    with tenant_context(books["org"]):
        today = books["org"].today()
    enter(client, books["link"])
    answer = client.post(
        "/portal/remittance/",
        {
            "invoices": [first.pk, second.pk],
            "amount": "2034.50",
            "paid_on": today,
            "reference": "TRF-7781",
        },
    )
    assert answer.status_code == 302
    with tenant_context(books["org"]):
        advice = RemittanceAdvice.objects.get()
        assert advice.amount == Decimal("2034.50")
        assert set(advice.invoices.all()) == {first, second}
        (item,) = [
            e
            for e in customer_timeline(customer=books["acme"])
            if e.status == "advised"
        ]
        assert item.amount == Decimal("2034.50")
        assert first.number in item.detail and "TRF-7781" in item.detail
        event = Event.objects.get(type="remittance.advised")
        assert event.data["invoices"] == [first.pk, second.pk]


def test_remittance_advice_of_a_future_transfer_is_refused(client, books):
    with tenant_context(books["org"]):
        tomorrow = books["org"].today() + timedelta(days=1)
    enter(client, books["link"])
    answer = client.post(
        "/portal/remittance/",
        {"invoices": [books["first"].pk], "amount": "1", "paid_on": tomorrow},
    )
    assert answer.status_code == 422
    assert "once it is made" in answer.content.decode()


def test_the_settings_page_changes_what_the_portal_offers(client, books):
    from o2c.models import Role
    from tests.factories import member

    admin = member(books["org"], Role.ADMIN)
    client.force_login(admin)
    bad = client.post(
        "/settings/portal/",
        {"offer_pay": "on", "promise_window_days": "0", "link_lifetime_days": "90"},
    )
    assert bad.status_code == 422
    # The organization reads German: the error names the range, at the field.
    page = bad.content.decode()
    assert "von 1 bis 365" in page
    assert (
        'name="promise_window_days" inputmode="numeric" value="0" aria-invalid' in page
    )
    client.post(
        "/settings/portal/",
        {"offer_pay": "on", "promise_window_days": "21", "link_lifetime_days": "30"},
    )
    with tenant_context(books["org"]):
        from invoicing.portal import portal_settings

        saved = portal_settings()
        assert (saved.offer_pay, saved.offer_dispute) == (True, False)
        assert (saved.promise_window_days, saved.link_lifetime_days) == (21, 30)


def test_the_settings_api_reads_and_changes_them(books):
    from o2c.models import Role
    from tests.conftest import api_client_for

    admin = api_client_for(books["org"], Role.ADMIN)
    assert admin.get("/api/v1/portal-settings/").json() == {
        "offer_pay": True, "offer_dispute": True, "offer_promise": True,
        "offer_remittance": True, "promise_window_days": 30,
        "link_lifetime_days": 90,
    }  # fmt: skip
    bad = admin.patch("/api/v1/portal-settings/", {"promise_window_days": 400})
    assert bad.status_code == 400
    assert "promise_window_days" in str(bad.json())
    changed = admin.patch("/api/v1/portal-settings/", {"offer_promise": False})
    assert changed.json()["offer_promise"] is False
    viewer = api_client_for(books["org"], Role.VIEWER)
    assert (
        viewer.patch("/api/v1/portal-settings/", {"offer_pay": False}).status_code
        == 403
    )
