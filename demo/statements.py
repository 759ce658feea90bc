"""Yesterday's bank statement of the demo company, imported and matched.

The company's EUR account at its bank receives what a real morning brings:
transfers quoting the invoice's RF creditor reference, transfers naming invoice
numbers in free text (some tidy, some garbled), one transfer paying two invoices of
a customer, short payments (the payer's bank kept a charge), a payment from an
unknown payer with no reference, and the bank's own fee (a debit). The lines go
through the same import and matching services as an uploaded camt.053, so the
bank queue shows automatic matches with their reasons and a few exceptions to
resolve. The open invoices paid this way are picked at random (seeded) among
those not under dispute or a promise, and never paid twice.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from decimal import Decimal

from collecting.selectors import paused_invoices
from invoicing.models import Invoice
from invoicing.references import payment_reference
from o2c.services import Actor
from reconciliation.services.bank_accounts import bank_account_save
from reconciliation.services.matching import lines_match
from reconciliation.services.statements import statement_import_parsed
from reconciliation.statements.base import ParsedEntry, ParsedStatement

ACTOR = Actor.system("seed_demo")
IBAN = "DE89370400440532013000"
OPENING_BALANCE = Decimal("184250.00")


def seed_bank_statement(*, seed: int, today: date) -> dict[str, int]:
    """Import and match yesterday's statement; returns counts for the summary."""
    account = bank_account_save(
        actor=ACTOR,
        name="Hamburger Sparkasse (EUR)",
        iban=IBAN,
        bic="COBADEFFXXX",
        currency="EUR",
        is_default=True,
    )
    booked = today - timedelta(days=1)
    entries = _entries(random.Random(seed), booked)
    movement = sum((entry.amount for entry in entries), Decimal(0))
    statement = ParsedStatement(
        account=IBAN,
        currency="EUR",
        statement_id=f"STMT-{booked:%Y%m%d}",
        opening_balance=OPENING_BALANCE,
        closing_balance=OPENING_BALANCE + movement,
        opening_date=booked,
        closing_date=booked,
        entries=entries,
    )
    file_hash = hashlib.sha256(f"demo-statement-{booked}".encode()).hexdigest()
    result = statement_import_parsed(
        bank_account=account,
        statements=[statement],
        source_name=f"camt053_{booked:%Y%m%d}.xml",
        file_hash=file_hash,
        file_format="camt",
        actor=ACTOR,
    )
    counts = lines_match(line_ids=result.new_credit_line_ids)
    return {
        "statement lines": len(entries),
        "matched automatically": counts["matched_auto"],
        "lines to review": counts["needs_review"],
    }


def _entries(rng: random.Random, booked: date) -> list[ParsedEntry]:
    paused = paused_invoices()
    candidates = [
        invoice
        for invoice in Invoice.objects.filter(
            currency="EUR",
            status__in=(Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID),
            open_amount__gt=20,
        )
        .select_related("customer")
        .order_by("pk")
        if invoice.pk not in paused
    ]
    rng.shuffle(candidates)
    used: set[int] = set()

    def take(customer_id=None) -> Invoice | None:
        for invoice in candidates:
            if invoice.pk in used:
                continue
            if customer_id is None or invoice.customer_id == customer_id:
                used.add(invoice.pk)
                return invoice
        return None

    entries: list[ParsedEntry] = []

    def credit(amount, payer, remittance="", reference=""):
        number = len(entries) + 1
        entries.append(
            ParsedEntry(
                booking_date=booked,
                value_date=booked,
                amount=Decimal(amount),
                currency="EUR",
                bank_reference=f"DEMO{booked:%Y%m%d}{number:04d}",
                end_to_end_id=f"E2E-{number:04d}",
                remittance=remittance,
                structured_reference=reference,
                payer_name=payer.name if payer else "M. Schneider",
                payer_account="" if payer else "DE02120300000000202051",
            )
        )

    # A small demo has fewer open invoices than this morning's transfers: each
    # kind of transfer takes what is left.
    for invoice in _up_to(8, take):  # structured RF reference, exact amount
        reference = payment_reference(invoice)
        credit(invoice.open_amount, invoice.customer, reference=reference)
    for invoice in _up_to(5, take):  # invoice number in free text
        credit(
            invoice.open_amount,
            invoice.customer,
            remittance=f"Rechnung {invoice.number} vom {invoice.invoice_date:%d.%m.%Y}",
        )
    for invoice in _up_to(3, take):  # garbled: spaces, case, leading zeros
        garbled = invoice.number.lower().replace("-", " ").replace(" 00", " ")
        credit(invoice.open_amount, invoice.customer, remittance=f"inv {garbled} thx")
    pairs = 0
    while pairs < 2:  # one transfer for two invoices of one customer
        first = take()
        if first is None:
            break
        second = take(customer_id=first.customer_id)
        if second is None:
            continue
        credit(
            first.open_amount + second.open_amount,
            first.customer,
            remittance=f"Invoices {first.number} and {second.number}",
        )
        pairs += 1
    for invoice in _up_to(2, take):  # the payer's bank kept a charge
        credit(
            invoice.open_amount - Decimal("7.50"),
            invoice.customer,
            remittance=f"{invoice.number} abzgl. Bankspesen",
        )
    credit("1250.00", None, remittance="Zahlung")  # unknown payer, no reference
    for invoice in _up_to(1, take):  # a known customer paying on account
        credit("480.00", invoice.customer, remittance="Anzahlung laut Telefonat")
    entries.append(
        ParsedEntry(
            booking_date=booked,
            value_date=booked,
            amount=Decimal("-12.90"),
            currency="EUR",
            bank_reference=f"DEMO{booked:%Y%m%d}FEES",
            remittance="Kontoführungsgebühren",
            payer_name="Hamburger Sparkasse",
        )
    )
    return entries


def _up_to(count: int, take):
    for _ in range(count):
        invoice = take()
        if invoice is None:
            return
        yield invoice
