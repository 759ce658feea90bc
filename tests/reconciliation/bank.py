"""Statements as the readers hand them over, built by hand for the tests."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from reconciliation.services.bank_accounts import bank_account_save
from reconciliation.services.statements import statement_import_parsed
from reconciliation.statements.base import ParsedEntry, ParsedStatement
from tests.factories import SYSTEM

IBAN = "DE89370400440532013000"


def main_account(**values):
    return bank_account_save(
        name="Main account",
        iban=IBAN,
        bic="COBADEFFXXX",
        currency=values.pop("currency", "EUR"),
        is_default=True,
        actor=SYSTEM,
        **values,
    )


def entry(amount, *, booking_date=date(2026, 2, 2), **fields) -> ParsedEntry:
    return ParsedEntry(
        booking_date=booking_date,
        amount=Decimal(str(amount)),
        currency=fields.pop("currency", "EUR"),
        **fields,
    )


def statement(entries, *, opening="1000.00", statement_id="STMT-1", **fields):
    opening = Decimal(opening)
    closing = opening + sum((e.amount for e in entries), Decimal(0))
    return ParsedStatement(
        account=fields.pop("account", IBAN),
        currency=fields.pop("currency", "EUR"),
        statement_id=statement_id,
        opening_balance=opening,
        closing_balance=fields.pop("closing", closing),
        opening_date=date(2026, 2, 1),
        closing_date=date(2026, 2, 28),
        entries=list(entries),
        **fields,
    )


def file_hash(statements) -> str:
    """A stand-in for the file's sha256: the same statements, the same hash."""
    return hashlib.sha256(repr(statements).encode()).hexdigest()


def import_statements(account, statements, *, actor=SYSTEM, name="statement.xml"):
    return statement_import_parsed(
        bank_account=account,
        statements=statements,
        source_name=name,
        file_hash=file_hash(statements),
        actor=actor,
    )
