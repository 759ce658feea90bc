"""What every bank-statement reader produces, whatever the file format.

A reader turns one file's bytes into :class:`ParsedStatement` objects (a file may
hold several statements, e.g. MT940 with several ``:20:`` blocks or camt.053 with
several ``<Stmt>``). Each transaction becomes one :class:`ParsedEntry`; a booked
entry that batches several transaction details (camt ``NtryDtls/TxDtls``) gives
one entry per detail, sharing ``entry_reference``.

Amounts are signed from the account holder's view: positive money in (credit),
negative money out (debit). Readers raise :class:`StatementError` naming where in
the file the problem is (a line number or an XML path); a file that raises
imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


class StatementError(ValueError):
    """A file that cannot be read as a statement; ``location`` says where."""

    def __init__(self, message: str, *, location: str = ""):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


@dataclass(frozen=True)
class ParsedEntry:
    booking_date: date
    amount: Decimal  # signed: + credit (money in), - debit (money out)
    currency: str
    value_date: date | None = None
    # Identity of the line at the bank: the entry id / AcctSvcrRef / bank
    # reference; unique per line within the account (with booking date and
    # amount it is the duplicate-import key).
    bank_reference: str = ""
    # The booked entry a batched detail belongs to (camt NtryRef/AcctSvcrRef).
    entry_reference: str = ""
    end_to_end_id: str = ""
    # Unstructured remittance text, joined with single spaces.
    remittance: str = ""
    # Structured creditor reference (camt Strd/CdtrRefInf/Ref, e.g. "RF18…").
    structured_reference: str = ""
    payer_name: str = ""
    payer_account: str = ""  # IBAN or other account number of the payer
    payer_bic: str = ""
    is_reversal: bool = False
    transaction_code: str = ""  # bank transaction code (BAI type, MT940 GVC…)
    location: str = ""  # where in the file (line number or XML path)


@dataclass
class ParsedStatement:
    account: str  # IBAN or account number of the account holder's account
    currency: str
    statement_id: str = ""
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    opening_date: date | None = None
    closing_date: date | None = None
    entries: list[ParsedEntry] = field(default_factory=list)
    kind: str = "statement"  # "statement" (camt.053, MT940, BAI2) or "notification"

    def check_balances(self) -> None:
        """Opening + entries = closing, or :class:`StatementError` with figures."""
        if self.opening_balance is None or self.closing_balance is None:
            return
        movement = sum((entry.amount for entry in self.entries), Decimal(0))
        expected = self.opening_balance + movement
        if expected != self.closing_balance:
            raise StatementError(
                f"Opening balance {self.opening_balance} plus entries {movement} is "
                f"{expected}, but the closing balance is {self.closing_balance}.",
                location=f"statement {self.statement_id or self.account}",
            )
