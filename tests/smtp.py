"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it accepts."""

import email
import email.policy
import re
import socket
from dataclasses import dataclass, field

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
        """(invoice number, days overdue, open amount) of a notice's invoices table."""
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
    """Keeps every message; ``refuse`` holds recipients answered ``550`` at RCPT."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[ReceivedMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

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
