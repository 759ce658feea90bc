import email
import email.policy
import re
import socket
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller

from collecting.services.policies import policy_create
from tests.factories import SYSTEM

TABLE_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(-?\d+)\s+([\d.,]+)$")


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    def invoice_rows(self) -> list[tuple[str, int, str]]:
        """(invoice number, days overdue, open amount) of the invoices table."""
        rows = []
        for line in self.text.splitlines():
            match = TABLE_ROW.match(line.strip())
            if match and match.group(1) != "Invoice":
                rows.append((match.group(1), int(match.group(3)), match.group(4)))
        return rows

    def attachments(self) -> list[email.message.EmailMessage]:
        return list(self.message.iter_attachments())


@dataclass
class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[ReceivedMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=email.message_from_bytes(
                    envelope.original_content, policy=email.policy.default
                ),
            )
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server, with Django's SMTP backend pointed at it."""
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True


BODY = (
    "Dear {{ contact.name }}\n\n{{ invoices_table }}\n\n"
    "Total: {{ total }} {{ currency }}\nFee: {{ fee }}\n"
)

STEPS = [
    {
        "name": "Courtesy",
        "offset_days": -3,
        "channel": "email",
        "translations": {
            "de": {"subject": "Zahlungserinnerung für {{ customer.name }}"}
        },
    },
    {"name": "Reminder 1", "offset_days": 7, "channel": "email"},
    {
        "name": "Reminder 2",
        "offset_days": 21,
        "channel": "email",
        "fee_amount": Decimal("5.00"),
    },
    {"name": "Final notice", "offset_days": 35, "channel": "letter"},
    {"name": "Call", "offset_days": 45, "channel": "call_task"},
    {"name": "Credit hold", "offset_days": 60, "channel": "credit_hold"},
]


def make_policy(name="Standard", *, attach=False, minimum="10.00", steps=STEPS):
    return policy_create(
        actor=SYSTEM,
        name=name,
        is_default=True,
        steps=[
            {
                "subject": "{{ step }} for {{ customer.name }}",
                "body": BODY,
                "attach_invoices": attach,
                "minimum_amount": Decimal(minimum),
                **step,
            }
            if step["channel"] in ("email", "letter")
            else {"minimum_amount": Decimal(minimum), **step}
            for step in steps
        ],
    )


@pytest.fixture
def policy(tenant):
    return make_policy()
