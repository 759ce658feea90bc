"""What a bounce changes afterwards: who the next notice goes to, the collector's
queue, the customer's timeline, and the settings API for the provider endpoints."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collecting.models import (
    EmailEvent,
    EmailProviderEndpoint,
    Notice,
    SuppressedAddress,
    WorklistEntry,
)
from collecting.selectors import customer_timeline
from collecting.services.delivery import (
    email_provider_endpoint_create,
    suppression_release,
)
from collecting.services.dunning import dunning_run
from collecting.services.sending import notices_send
from collecting.services.worklist import explain, worklist_refresh
from invoicing.models import InvoiceDelivery
from o2c.models import Role
from o2c.tenancy import all_tenants
from orders.models import Contact
from tests.collecting.conftest import make_policy
from tests.collecting.email_events import (
    SendGridSigner,
    hook_url,
    mailgun_body,
    post,
    send_notice,
)
from tests.conftest import api_client_for
from tests.factories import SYSTEM, CustomerFactory, issued_invoice

pytestmark = pytest.mark.django_db

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
REMINDER_2_DAY = datetime(2026, 2, 22, 7, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def mailgun(tenant):
    endpoint, _ = email_provider_endpoint_create(
        provider="mailgun", signing_key=MAILGUN_KEY, actor=SYSTEM
    )
    return endpoint


def bounce(endpoint, message_id, recipient, fixture="mailgun_failed_permanent.json"):
    body = mailgun_body(fixture, MAILGUN_KEY, message_id, recipient)
    response = post(endpoint, body)
    assert response.status_code == 200, response.content


def next_step_notice(customer):
    """Reminder 2, two weeks later, through the real sender."""
    with time_machine.travel(REMINDER_2_DAY, tick=False):
        dunning_run()
        pending = Notice.objects.filter(customer=customer, status="pending")
        notices_send(notice_ids=list(pending.values_list("pk", flat=True)))
    return Notice.objects.filter(customer=customer).order_by("-pk").first()


def test_the_next_notice_skips_the_bounced_address(tenant, smtp_sink, mailgun):
    make_policy()
    notice, message_id = send_notice(
        tenant, smtp_sink, "jane@example.com", "mary@example.com"
    )
    bounce(mailgun, message_id, "Jane@Example.com")

    reminder = next_step_notice(notice.customer)

    assert reminder.step.name == "Reminder 2"
    assert reminder.status == "sent"
    assert reminder.recipients == ["mary@example.com"]
    assert smtp_sink.messages[-1].rcpt_tos == ["mary@example.com"]


def test_with_every_address_bounced_the_notice_fails_with_the_reason(
    tenant, smtp_sink, mailgun
):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "jane@example.com")
    bounce(mailgun, message_id, "jane@example.com")
    sent_before = len(smtp_sink.messages)

    reminder = next_step_notice(notice.customer)

    assert reminder.status == "failed"
    assert "Every address bounced" in reminder.error
    assert "jane@example.com" in reminder.error
    assert len(smtp_sink.messages) == sent_before


def test_a_bounce_puts_email_bounced_in_the_queue_score(tenant, smtp_sink, mailgun):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "jane@example.com")
    customer = notice.customer
    worklist_refresh(customer=customer)
    before = WorklistEntry.objects.get(customer=customer)
    assert "email_bounced" not in before.score_parts

    bounce(mailgun, message_id, "jane@example.com")

    after = WorklistEntry.objects.get(customer=customer)
    assert after.score_parts["email_bounced"] == 20
    assert after.score == before.score + 20
    assert ("email bounced", 20) in explain(after)

    # The collector finds the right address: the reason leaves the score.
    Contact.objects.filter(customer=customer).update(email="jane.doe@example.com")
    worklist_refresh(customer=customer)
    assert (
        "email_bounced" not in WorklistEntry.objects.get(customer=customer).score_parts
    )


def test_releasing_an_address_lets_email_go_to_it_again(tenant, smtp_sink, mailgun):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "jane@example.com")
    bounce(mailgun, message_id, "jane@example.com")

    suppression_release(
        suppression=SuppressedAddress.objects.get(),
        actor=SYSTEM,
        note="Mailbox restored",
    )
    reminder = next_step_notice(notice.customer)

    assert reminder.status == "sent"
    assert smtp_sink.messages[-1].rcpt_tos == ["jane@example.com"]
    worklist = WorklistEntry.objects.get(customer=notice.customer)
    assert "email_bounced" not in worklist.score_parts


def test_bounces_are_on_the_timeline_and_soft_ones_flag_nothing(
    tenant, smtp_sink, mailgun, session_client
):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "jane@example.com")

    bounce(mailgun, message_id, "jane@example.com", "mailgun_failed_temporary.json")
    assert not SuppressedAddress.objects.exists()
    notice.refresh_from_db()
    assert notice.status == "sent"
    worklist_refresh(customer=notice.customer)
    entry = WorklistEntry.objects.get(customer=notice.customer)
    assert "email_bounced" not in entry.score_parts

    bounce(mailgun, message_id, "jane@example.com")

    delivery = [
        e for e in customer_timeline(customer=notice.customer) if e.kind == "delivery"
    ]
    # Placed at the provider's time of each event (the samples' own dates).
    assert {(e.title, e.object_id) for e in delivery} == {
        ("Email hard bounce: jane@example.com", notice.pk),
        ("Email soft bounce: jane@example.com", notice.pk),
    }
    soft = next(e for e in delivery if "soft" in e.title)
    assert "over quota" in soft.detail

    page = session_client.get(f"/collections/customers/{notice.customer_id}/timeline/")
    assert page.status_code == 200
    assert "Email hard bounce: jane@example.com" in page.text
    assert "Not delivering to previously bounced address" in page.text


def test_a_bounced_invoice_email_flags_the_address_for_the_dunning(
    tenant, smtp_sink, mailgun, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(name="Initech", email="ap@initech.example")
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(customer, "480.00")
    invoice_email = InvoiceDelivery.objects.get(invoice=invoice)
    assert invoice_email.status == "sent"

    bounce(mailgun, invoice_email.message_id, "ap@initech.example")

    event = EmailEvent.objects.get()
    assert (event.invoice_delivery, event.customer) == (invoice_email, customer)
    assert SuppressedAddress.objects.get().customer == customer
    timeline = [e.title for e in customer_timeline(customer=customer)]
    assert "Email hard bounce: ap@initech.example (invoice email)" in timeline


def test_the_notice_api_shows_its_delivery_events(tenant, smtp_sink, mailgun, api):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "jane@example.com")
    bounce(mailgun, message_id, "jane@example.com")

    detail = api.get(f"/api/v1/notices/{notice.pk}/").json()
    events = api.get(f"/api/v1/email-events/?notice={notice.pk}").json()["results"]

    assert detail["status"] == "bounced"
    assert [(e["kind"], e["recipient"], e["provider"]) for e in events] == [
        ("hard_bounce", "jane@example.com", "mailgun")
    ]


# --- the settings API ---------------------------------------------------------------


def test_only_an_admin_configures_provider_endpoints(org, admin_api):
    finance = api_client_for(org, Role.FINANCE)
    refused = finance.post(
        "/api/v1/email-provider-endpoints/",
        {"provider": "mailgun", "signing_key": "k"},
        format="json",
    )
    assert refused.status_code == 403
    assert finance.get("/api/v1/email-provider-endpoints/").status_code == 403

    bad_key = admin_api.post(
        "/api/v1/email-provider-endpoints/",
        {"provider": "sendgrid", "signing_key": "not a key"},
        format="json",
    )
    assert bad_key.status_code == 400
    error = bad_key.json()["error"]
    assert error["code"] == "invalid_key"
    assert "verification key" in error["message"]
    with all_tenants():
        assert not EmailProviderEndpoint.unscoped.exists()


def test_create_list_and_rotate_an_endpoint(org, admin_api, tenant, smtp_sink):
    signer = SendGridSigner()
    created = admin_api.post(
        "/api/v1/email-provider-endpoints/",
        {"provider": "sendgrid", "signing_key": signer.public_key},
        format="json",
    )
    assert created.status_code == 201, created.content
    first = created.json()
    endpoint = EmailProviderEndpoint.objects.get()
    assert first["inbound_url"] == f"http://testserver{hook_url(endpoint)}"
    assert first["has_signing_key"] is True
    assert "signing_key" not in first

    again = admin_api.post(
        "/api/v1/email-provider-endpoints/",
        {"provider": "sendgrid", "signing_key": signer.public_key},
        format="json",
    )
    assert again.status_code == 409

    rotated = admin_api.post(
        f"/api/v1/email-provider-endpoints/{endpoint.pk}/rotate/", {}, format="json"
    )
    assert rotated.status_code == 200
    assert rotated.json()["token"] != first["token"]
    (listed,) = admin_api.get("/api/v1/email-provider-endpoints/").json()["results"]
    assert listed["inbound_url"] == rotated.json()["inbound_url"]

    body = b"[]"
    old = post(endpoint, body, **signer.headers(body))  # the old token
    endpoint.refresh_from_db()
    new = post(endpoint, body, **signer.headers(body))
    assert (old.status_code, new.status_code) == (404, 200)


def test_a_postmark_password_is_shown_once(org, admin_api):
    created = admin_api.post(
        "/api/v1/email-provider-endpoints/",
        {"provider": "postmark", "basic_auth_username": "postmark"},
        format="json",
    ).json()

    assert len(created["basic_auth_password"]) >= 24
    (listed,) = admin_api.get("/api/v1/email-provider-endpoints/").json()["results"]
    assert "basic_auth_password" not in listed
    with all_tenants():
        stored = EmailProviderEndpoint.unscoped.get().basic_auth_password
    assert created["basic_auth_password"] not in stored
