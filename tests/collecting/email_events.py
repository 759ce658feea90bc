"""Helpers for the delivery-tracking tests: a notice really sent to the SMTP sink,
the providers' documented sample payloads, and the providers' ways of signing
them (with keys the tests own).

Only the edge of the world is replaced: :data:`collecting.inbound.fetch_url`,
which would fetch Amazon's certificate and visit the subscription URL.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from django.test import Client

from collecting.models import Notice
from collecting.services.dunning import dunning_run
from collecting.services.sending import notices_send
from orders.models import Contact
from tests.factories import CustomerFactory, issued_invoice

FIXTURES = Path(__file__).parent / "fixtures" / "email_events"
NOW = datetime(2026, 2, 8, 7, tzinfo=ZoneInfo("Europe/Berlin"))
CERT_URL = (
    "https://sns.us-west-2.amazonaws.com/"
    "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
)
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


def sample(name: str):
    return json.loads((FIXTURES / name).read_text())


def send_notice(organization, smtp_sink, *addresses, name="Globex"):
    """Run the dunning and the sender for one overdue customer whose billing
    contacts have ``addresses``; returns the notice and the Message-ID that
    reached the sink."""
    with time_machine.travel(NOW, tick=False):
        customer = CustomerFactory(name=name, email="")
        for address in addresses:
            Contact.objects.create(
                organization=organization,
                customer=customer,
                name=address.split("@")[0].title(),
                email=address,
            )
        issued_invoice(
            customer,
            "1250.00",
            invoice_date=date(2026, 1, 2),
            due_date=date(2026, 2, 1),
        )
        dunning_run()
        notices_send(
            notice_ids=list(
                Notice.objects.filter(customer=customer).values_list("pk", flat=True)
            )
        )
    notice = Notice.objects.get(customer=customer)
    message = next(
        m
        for m in smtp_sink.messages
        if set(m.rcpt_tos) == {address.lower() for address in addresses}
    )
    message_id = "".join(str(message.message["Message-ID"]).split())
    return notice, message_id


def hook_url(endpoint) -> str:
    return f"/hooks/email/{endpoint.provider}/{endpoint.token}/"


def post(endpoint, body: bytes, **headers):
    return Client().post(
        hook_url(endpoint), data=body, content_type="application/json", headers=headers
    )


# --- Amazon SNS -------------------------------------------------------------------


class SnsSigner:
    """A signing key and a certificate like Amazon's, served by a fake fetcher."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = certificate.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        if url == CERT_URL:
            return self.pem
        if "Action=ConfirmSubscription" in url:
            return b"<ConfirmSubscriptionResponse/>"
        raise OSError(f"no such URL in the test: {url}")

    def sign(self, message: dict, *, version: str = "1") -> dict:
        """``message`` with ``Signature`` as Amazon computes it."""
        message = dict(message, SignatureVersion=version, SigningCertURL=CERT_URL)
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = [
                "Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                "TopicArn", "Type",
            ]  # fmt: skip
        signed = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), digest)
        message["Signature"] = base64.b64encode(signature).decode()
        return message


def ses_notification(fixture: str, message_id: str, sns_message_id: str) -> dict:
    """The SNS envelope of the SNS sample carrying the SES sample, about the
    email whose Message-ID is ``message_id``."""
    notification = sample(fixture)
    notification["mail"]["commonHeaders"]["messageId"] = message_id
    envelope = sample("sns_notification.json")
    envelope.update(
        Message=json.dumps(notification),
        MessageId=sns_message_id,
        Subject="Amazon SES Email Event Notification",
    )
    return envelope


# --- SendGrid ---------------------------------------------------------------------


class SendGridSigner:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        # SendGrid shows the verification key as base64 of its DER encoding.
        self.public_key = base64.b64encode(
            self.key.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        ).decode()

    def headers(self, body: bytes) -> dict:
        timestamp = str(int(time.time()))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(
                signature
            ).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }


def sendgrid_events(message_id: str, recipient: str, *events: str) -> bytes:
    chosen = [
        dict(event, **{"smtp-id": message_id, "email": recipient})
        for event in sample("sendgrid_events.json")
        if event["event"] in events
    ]
    return json.dumps(chosen).encode()


# --- Mailgun ----------------------------------------------------------------------


def mailgun_body(fixture: str, signing_key: str, message_id: str, recipient: str):
    payload = copy.deepcopy(sample(fixture))
    data = payload["event-data"]
    data["message"]["headers"]["message-id"] = message_id.strip("<>")
    data["recipient"] = recipient
    signature = payload["signature"]
    signature["timestamp"] = str(int(time.time()))
    signature["signature"] = hmac.new(
        signing_key.encode(),
        (signature["timestamp"] + signature["token"]).encode(),
        hashlib.sha256,
    ).hexdigest()
    return json.dumps(payload).encode()


# --- Postmark ---------------------------------------------------------------------


def postmark_body(fixture: str, message_id: str, recipient: str) -> bytes:
    event = sample(fixture)
    # What an X-PM-Metadata-message-id header on the sent email comes back as.
    event["Metadata"]["message-id"] = message_id
    event["Email"] = recipient
    return json.dumps(event).encode()


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
