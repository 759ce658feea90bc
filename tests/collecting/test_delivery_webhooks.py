"""Bounces and complaints posted by the email providers, in their documented
formats and signed their way, about notices that really reached the SMTP sink."""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from collecting import inbound
from collecting.models import EmailEvent, SuppressedAddress
from collecting.services.delivery import email_provider_endpoint_create
from o2c.models import AuditEvent
from o2c.tenancy import tenant_context
from tests.collecting.conftest import make_policy
from tests.collecting.email_events import (
    TOPIC,
    SendGridSigner,
    SnsSigner,
    basic_auth,
    mailgun_body,
    post,
    postmark_body,
    sample,
    send_notice,
    sendgrid_events,
    ses_notification,
)
from tests.factories import SYSTEM

pytestmark = pytest.mark.django_db


@pytest.fixture
def sns(monkeypatch):
    cache.clear()
    signer = SnsSigner()
    monkeypatch.setattr(inbound, "fetch_url", signer.fetch)
    yield signer
    cache.clear()


@pytest.fixture
def jane_notice(tenant, smtp_sink):
    make_policy()
    return send_notice(tenant, smtp_sink, "jane@example.com")


def ses_endpoint(topic_arn=TOPIC):
    endpoint, _ = email_provider_endpoint_create(
        provider="ses", topic_arn=topic_arn, actor=SYSTEM
    )
    return endpoint


def post_json(endpoint, payload, **headers):
    return post(endpoint, json.dumps(payload).encode(), **headers)


# --- Amazon SES through SNS ---------------------------------------------------------


def test_ses_hard_bounce_marks_the_notice_and_suppresses_the_address(jane_notice, sns):
    notice, message_id = jane_notice
    assert notice.status == "sent"
    endpoint = ses_endpoint()
    envelope = ses_notification("ses_bounce_notification.json", message_id, "m-1")

    response = post_json(endpoint, sns.sign(envelope, version="1"))

    assert response.status_code == 200, response.content
    notice.refresh_from_db()
    assert notice.status == "bounced"
    assert "jane@example.com" in notice.error
    assert "550 5.1.1" in notice.error
    (event,) = EmailEvent.objects.all()
    assert (event.provider, event.kind, event.recipient) == (
        "ses",
        "hard_bounce",
        "jane@example.com",
    )
    assert event.notice == notice
    assert event.raw["bounce"]["bounceType"] == "Permanent"
    (suppressed,) = SuppressedAddress.objects.all()
    assert (suppressed.address, suppressed.reason, suppressed.customer_id) == (
        "jane@example.com",
        "hard_bounce",
        notice.customer_id,
    )
    assert sns.fetched == [envelope["SigningCertURL"]]


def test_ses_complaint_with_signature_version_2(tenant, smtp_sink, sns):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "richard@example.com")
    envelope = ses_notification("ses_complaint_notification.json", message_id, "m-2")

    response = post_json(ses_endpoint(), sns.sign(envelope, version="2"))

    assert response.status_code == 200, response.content
    notice.refresh_from_db()
    assert notice.status == "complained"
    assert SuppressedAddress.objects.get().reason == "complaint"


def test_a_tampered_sns_message_is_refused_and_nothing_is_written(jane_notice, sns):
    notice, message_id = jane_notice
    signed = sns.sign(ses_notification("ses_bounce_notification.json", message_id, "m"))
    # Someone changes the message after Amazon signed it.
    signed["Message"] = signed["Message"].replace("Permanent", "Transient")

    response = post_json(ses_endpoint(), signed)

    assert response.status_code == 403
    assert not EmailEvent.objects.exists()
    assert not SuppressedAddress.objects.exists()
    notice.refresh_from_db()
    assert notice.status == "sent"


@pytest.mark.parametrize(
    "cert_url",
    [
        "http://sns.us-west-2.amazonaws.com/cert.pem",
        "https://sns.us-west-2.amazonaws.com.attacker.example/cert.pem",
        "https://attacker.example/sns.us-west-2.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
    ],
)
def test_a_certificate_from_anywhere_but_sns_is_never_fetched(
    jane_notice, sns, cert_url
):
    _, message_id = jane_notice
    signed = sns.sign(ses_notification("ses_bounce_notification.json", message_id, "m"))
    signed["SigningCertURL"] = cert_url

    response = post_json(ses_endpoint(), signed)

    assert response.status_code == 403
    assert sns.fetched == []
    assert not EmailEvent.objects.exists()


def test_the_sns_certificate_is_fetched_once_and_cached(jane_notice, sns):
    _, message_id = jane_notice
    endpoint = ses_endpoint()
    for sns_id in ("m-1", "m-2"):
        envelope = ses_notification("ses_bounce_notification.json", message_id, sns_id)
        assert post_json(endpoint, sns.sign(envelope)).status_code == 200
    assert len(sns.fetched) == 1


def test_a_subscription_confirmation_is_verified_then_confirmed(tenant, sns):
    endpoint = ses_endpoint()
    confirmation = sns.sign(sample("sns_subscription_confirmation.json"))

    response = post_json(endpoint, confirmation)

    assert response.status_code == 200
    assert sns.fetched[-1] == confirmation["SubscribeURL"]

    other_topic = dict(
        confirmation, TopicArn="arn:aws:sns:us-west-2:999999999999:Elsewhere"
    )
    sns.fetched.clear()
    response = post_json(endpoint, sns.sign(other_topic))
    assert response.status_code == 403
    assert sns.fetched == []


# --- SendGrid -----------------------------------------------------------------------


def test_sendgrid_signed_events(jane_notice):
    notice, message_id = jane_notice
    signer = SendGridSigner()
    endpoint, _ = email_provider_endpoint_create(
        provider="sendgrid", signing_key=signer.public_key, actor=SYSTEM
    )
    body = sendgrid_events(
        message_id, "jane@example.com", "processed", "deferred", "open", "bounce"
    )

    response = post(endpoint, body, **signer.headers(body))

    assert response.status_code == 200, response.content
    kinds = sorted(EmailEvent.objects.values_list("kind", flat=True))
    assert kinds == ["hard_bounce", "soft_bounce"]  # opens are not delivery
    notice.refresh_from_db()
    assert notice.status == "bounced"
    assert "500 unknown recipient" in notice.error
    assert SuppressedAddress.objects.get().address == "jane@example.com"


def test_sendgrid_events_signed_with_another_key_are_refused(jane_notice):
    notice, message_id = jane_notice
    endpoint, _ = email_provider_endpoint_create(
        provider="sendgrid", signing_key=SendGridSigner().public_key, actor=SYSTEM
    )
    body = sendgrid_events(message_id, "jane@example.com", "bounce")

    forged = post(endpoint, body, **SendGridSigner().headers(body))
    unsigned = post(endpoint, body)

    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert not EmailEvent.objects.exists()
    notice.refresh_from_db()
    assert notice.status == "sent"


def test_sendgrid_spam_report_is_a_complaint(jane_notice):
    notice, message_id = jane_notice
    signer = SendGridSigner()
    endpoint, _ = email_provider_endpoint_create(
        provider="sendgrid", signing_key=signer.public_key, actor=SYSTEM
    )
    body = sendgrid_events(message_id, "jane@example.com", "spamreport")

    assert post(endpoint, body, **signer.headers(body)).status_code == 200

    notice.refresh_from_db()
    assert notice.status == "complained"


# --- Mailgun ------------------------------------------------------------------------

MAILGUN_KEY = "key-7e55d003b5e7b1a4b6f5d0b4f6c3a0d1"


@pytest.fixture
def mailgun(tenant):
    endpoint, _ = email_provider_endpoint_create(
        provider="mailgun", signing_key=MAILGUN_KEY, actor=SYSTEM
    )
    return endpoint


def test_mailgun_permanent_failure_bounces_the_notice(jane_notice, mailgun):
    notice, message_id = jane_notice
    body = mailgun_body(
        "mailgun_failed_permanent.json", MAILGUN_KEY, message_id, "jane@example.com"
    )

    assert post(mailgun, body).status_code == 200

    notice.refresh_from_db()
    assert notice.status == "bounced"
    assert "Not delivering to previously bounced address" in notice.error


def test_mailgun_temporary_failure_is_recorded_and_flags_nothing(jane_notice, mailgun):
    notice, message_id = jane_notice
    body = mailgun_body(
        "mailgun_failed_temporary.json", MAILGUN_KEY, message_id, "jane@example.com"
    )

    assert post(mailgun, body).status_code == 200

    (event,) = EmailEvent.objects.all()
    assert (event.kind, event.notice) == ("soft_bounce", notice)
    assert "over quota" in event.description
    notice.refresh_from_db()
    assert notice.status == "sent"
    assert not SuppressedAddress.objects.exists()


def test_mailgun_complaint_and_a_wrong_signature(jane_notice, mailgun):
    notice, message_id = jane_notice
    forged = mailgun_body(
        "mailgun_complained.json", "not-the-key", message_id, "jane@example.com"
    )
    assert post(mailgun, forged).status_code == 403
    assert not EmailEvent.objects.exists()

    body = mailgun_body(
        "mailgun_complained.json", MAILGUN_KEY, message_id, "jane@example.com"
    )
    assert post(mailgun, body).status_code == 200
    notice.refresh_from_db()
    assert notice.status == "complained"


# --- Postmark -----------------------------------------------------------------------


def test_postmark_needs_its_basic_auth_credentials(tenant, smtp_sink):
    make_policy()
    notice, message_id = send_notice(tenant, smtp_sink, "john@example.com")
    endpoint, password = email_provider_endpoint_create(
        provider="postmark", basic_auth_username="postmark", actor=SYSTEM
    )
    # Postmark returns what the sent email's X-PM-Metadata-message-id header held.
    metadata = str(smtp_sink.messages[-1].message["X-PM-Metadata-message-id"])
    assert metadata == message_id
    body = postmark_body("postmark_bounce.json", metadata, "john@example.com")

    wrong = post(endpoint, body, Authorization=basic_auth("postmark", "guess"))
    missing = post(endpoint, body)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert not EmailEvent.objects.exists()

    right = post(endpoint, body, Authorization=basic_auth("postmark", password))
    assert right.status_code == 200
    notice.refresh_from_db()
    assert notice.status == "bounced"
    assert "unknown user, mailbox not found" in notice.error

    complaint = postmark_body(
        "postmark_spam_complaint.json", message_id, "john@example.com"
    )
    post(endpoint, complaint, Authorization=basic_auth("postmark", password))
    notice.refresh_from_db()
    assert notice.status == "complained"
    assert SuppressedAddress.objects.get().address == "john@example.com"


# --- what every provider shares -----------------------------------------------------


def test_a_replayed_event_changes_nothing(jane_notice, mailgun):
    notice, message_id = jane_notice
    body = mailgun_body(
        "mailgun_failed_permanent.json", MAILGUN_KEY, message_id, "jane@example.com"
    )

    first, second = post(mailgun, body), post(mailgun, body)

    assert first.json() == {"events": 1, "recorded": 1}
    assert second.status_code == 200
    assert second.json() == {"events": 1, "recorded": 0}
    assert EmailEvent.objects.count() == 1
    assert SuppressedAddress.objects.count() == 1
    bounced = AuditEvent.objects.filter(
        object_type="collecting.notice", object_id=str(notice.pk), to_status="bounced"
    )
    assert bounced.count() == 1


def test_an_unknown_message_id_is_accepted_and_ignored(jane_notice, mailgun):
    notice, _ = jane_notice
    body = mailgun_body(
        "mailgun_failed_permanent.json",
        MAILGUN_KEY,
        "<20130503192659.13651.20287@sandbox.mailgun.org>",
        "jane@example.com",
    )

    response = post(mailgun, body)

    assert response.status_code == 200
    (event,) = EmailEvent.objects.all()
    assert event.notice is None and event.customer is None
    notice.refresh_from_db()
    assert notice.status == "sent"
    assert not SuppressedAddress.objects.exists()


def test_the_url_token_decides_the_organization_not_the_payload(
    jane_notice, other_org, smtp_sink
):
    """Another organization's endpoint, given our notice's Message-ID, cannot
    touch our notice."""
    notice, message_id = jane_notice
    with tenant_context(other_org):
        foreign, _ = email_provider_endpoint_create(
            provider="mailgun", signing_key=MAILGUN_KEY, actor=SYSTEM
        )
    body = mailgun_body(
        "mailgun_failed_permanent.json", MAILGUN_KEY, message_id, "jane@example.com"
    )

    assert post(foreign, body).status_code == 200

    notice.refresh_from_db()
    assert notice.status == "sent"
    assert not SuppressedAddress.objects.exists()
    assert not EmailEvent.objects.exists()  # ours: the event is the other org's
    with tenant_context(other_org):
        assert EmailEvent.objects.get().notice is None


def test_an_unknown_token_or_provider_is_not_found(mailgun):
    client = Client()
    unknown = client.post("/hooks/email/mailgun/nope/", b"{}", "application/json")
    wrong_provider = client.post(
        f"/hooks/email/sendgrid/{mailgun.token}/", b"{}", "application/json"
    )
    assert (unknown.status_code, wrong_provider.status_code) == (404, 404)
    assert client.get(f"/hooks/email/mailgun/{mailgun.token}/").status_code == 405
    assert not EmailEvent.objects.exists()


def test_a_body_that_is_not_json_is_a_bad_request(mailgun, sns):
    assert post(mailgun, b"event=failed&recipient=x").status_code == 400
    assert post(ses_endpoint(), b"<xml/>").status_code == 400
    assert not EmailEvent.objects.exists()
