"""Candidates for one incoming statement line, with a confidence and reasons.

Evidence, strongest first:

- a creditor reference (RF, check digits valid) or invoice numbers in the
  remittance text, confirmed by the amount (exact, short within the tolerance,
  or over: the rest stays on the customer's account);
- the payer's account, known from earlier confirmed matches, with the exact
  amount of one of that customer's open invoices or of a combination of them
  (a bounded subset search, oldest first);
- the exact amount of one open invoice anywhere, the payer's name agreeing.

Lookups go through indexes only: invoices by number (unique per organization),
open invoices by amount (``invoice_open_amount_idx``), the payer by account
(unique per organization), one customer's open invoices
(``invoice_open_customer_idx``); no scan grows with the size of the book.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from itertools import combinations

from invoicing.models import Invoice
from invoicing.selectors import OPEN_STATUSES
from o2c.models import Sequence
from o2c.money import quantize
from reconciliation.matching.text import invoice_number_candidates, read_references
from reconciliation.models import (
    CustomerBankAccount,
    MatchSuggestion,
    ReconciliationSettings,
    StatementLine,
)

A = MatchSuggestion.Action
MAX_SUGGESTIONS = 5
SUBSET_INVOICES = 24  # a customer's oldest open invoices tried in combinations
SUBSET_MAX_SIZE = 5
SUBSET_MAX_TRIES = 20_000
AMOUNT_MATCHES = 6  # open invoices of one amount looked at, org-wide

# Confidence by evidence (how the invoice was named) and how the amount fits.
CONFIDENCE = {
    "rf": {"exact": 99, "one_of": 96, "short": 96, "over": 96, "partial": 75},
    "number": {"exact": 97, "one_of": 95, "short": 95, "over": 86, "partial": 70},
    "bare": {"exact": 90, "one_of": 85, "short": 84, "over": 70, "partial": 55},
}
EVIDENCE_WORDS = {
    "rf": "payment reference",
    "number": "invoice number in the text",
    "bare": "a number in the text",
}


@dataclass
class Candidate:
    customer_id: int
    customer_label: str
    allocations: list[tuple[Invoice, Decimal]]
    confidence: int
    reasons: list[str]
    action: str = A.APPLY
    write_offs: list[tuple[Invoice, Decimal]] = field(default_factory=list)
    learn: bool = False  # applying it confirms the payer's account

    @property
    def key(self) -> tuple:
        return (self.customer_id, tuple(sorted(i.pk for i, _ in self.allocations)))


@dataclass
class MatchContext:
    """What a matching run looks up once, not per line."""

    settings: ReconciliationSettings
    prefix: str = "INV-"
    padding: int = 6

    @classmethod
    def load(cls, settings: ReconciliationSettings) -> MatchContext:
        sequence = Sequence.objects.filter(name="invoice").first()
        if sequence is None:
            return cls(settings=settings)
        return cls(settings=settings, prefix=sequence.prefix, padding=sequence.padding)

    def tolerance(self, amount: Decimal, currency: str) -> Decimal:
        """The short payment accepted on ``amount``: the larger of the percent
        and the absolute amount for the currency (zero when neither is set)."""
        percent = amount * self.settings.short_payment_tolerance_percent / 100
        absolute = Decimal(
            str(self.settings.short_payment_tolerance_amounts.get(currency, "0"))
        )
        return max(percent, absolute)


@dataclass
class MatchResult:
    candidates: list[Candidate]
    notes: list[str]  # why nothing (more) could be proposed


def candidates_for(line: StatementLine, context: MatchContext) -> MatchResult:
    notes: list[str] = []
    payer = _known_payer(line)
    found = _by_reference(line, context, payer, notes)
    found += _by_payer(line, context, payer, notes)
    found += _by_amount(line, payer)
    ranked = _merge(found)
    if not ranked:
        notes.append("no open invoice matches the reference, payer or amount")
    return MatchResult(candidates=ranked[:MAX_SUGGESTIONS], notes=notes)


# --- reference ------------------------------------------------------------------------


def _by_reference(line, context, payer, notes) -> list[Candidate]:
    references = read_references(line.structured_reference, line.remittance)
    if not references:
        return []
    numbers = invoice_number_candidates(
        references, prefix=context.prefix, padding=context.padding
    )
    invoices = list(
        Invoice.objects.filter(number__in=list(numbers)).select_related("customer")
    )
    usable = []
    for invoice in invoices:
        if invoice.currency != line.currency:
            notes.append(
                f"invoice {invoice.number} is in {invoice.currency}; the payment is "
                f"in {line.currency}"
            )
        elif invoice.status not in OPEN_STATUSES:
            notes.append(
                f"invoice {invoice.number} is {invoice.get_status_display().lower()}"
                + (" (a second payment?)" if invoice.status == Invoice.S.PAID else "")
            )
        else:
            usable.append(invoice)
    per_customer: dict[int, list[Invoice]] = {}
    for invoice in sorted(usable, key=lambda i: (i.due_date, i.pk)):
        per_customer.setdefault(invoice.customer_id, []).append(invoice)
    candidates = []
    for customer_invoices in per_customer.values():
        evidence = max(
            (numbers[i.number] for i in customer_invoices), key=_EVIDENCE_RANK.get
        )
        candidate = _fit_amount(line, customer_invoices, evidence, context)
        if candidate is None:
            continue
        candidate.learn = evidence in ("rf", "number")
        _weigh_payer(candidate, line, payer)
        candidates.append(candidate)
    return candidates


_EVIDENCE_RANK = {"bare": 0, "number": 1, "rf": 2}


def _fit_amount(line, invoices, evidence, context) -> Candidate | None:
    """How the line's amount fits the invoices it names."""
    amount = line.amount
    customer = invoices[0].customer
    named = ", ".join(i.number for i in invoices)
    source = f"{EVIDENCE_WORDS[evidence]} names {named}"
    total = sum((i.open_amount for i in invoices), Decimal(0))
    scores = CONFIDENCE[evidence]

    def candidate(kind, allocations, reasons, **extra):
        return Candidate(
            customer_id=customer.pk,
            customer_label=f"{customer.number} {customer.name}",
            allocations=allocations,
            confidence=scores[kind],
            reasons=[source, *reasons],
            **extra,
        )

    if amount == total:
        return candidate(
            "exact",
            [(i, i.open_amount) for i in invoices],
            [f"amount equals the open amount ({money(total, line.currency)})"],
        )
    single = [i for i in invoices if i.open_amount == amount]
    if len(invoices) > 1 and len(single) == 1:
        return candidate(
            "one_of",
            [(single[0], amount)],
            [f"amount equals the open amount of {single[0].number}"],
        )
    if amount > total:
        rest = amount - total
        return candidate(
            "over",
            [(i, i.open_amount) for i in invoices],
            [f"overpaid by {money(rest, line.currency)}; the rest stays on account"],
        )
    allocations = _oldest_first(invoices, amount)
    short = total - amount
    short_text = f"short by {money(short, line.currency)}, within tolerance"
    if short <= context.tolerance(total, line.currency):
        last = allocations[-1][0]
        if context.settings.short_payment_action == "write_off":
            return candidate(
                "short",
                allocations,
                [f"{short_text}: written off"],
                action=A.APPLY_AND_WRITE_OFF,
                write_offs=[(last, short)],
            )
        return candidate(
            "short",
            allocations,
            [f"{short_text}: left open"],
        )
    return candidate(
        "partial",
        allocations,
        [
            f"pays {money(amount, line.currency)} of {money(total, line.currency)} "
            "open (partial payment)"
        ],
    )


def money(amount: Decimal, currency: str) -> str:
    return f"{quantize(amount, currency)} {currency}"


def _oldest_first(invoices, amount) -> list[tuple[Invoice, Decimal]]:
    allocations, left = [], amount
    for invoice in invoices:
        if left <= 0:
            break
        part = min(left, invoice.open_amount)
        allocations.append((invoice, part))
        left -= part
    return allocations


# --- payer ----------------------------------------------------------------------------


def _known_payer(line) -> CustomerBankAccount | None:
    if not line.payer_account:
        return None
    return (
        CustomerBankAccount.objects.filter(account=line.payer_account)
        .select_related("customer")
        .first()
    )


def _weigh_payer(candidate: Candidate, line, payer) -> None:
    if payer is None:
        if line.payer_name and _similar(line.payer_name, candidate.customer_label):
            candidate.reasons.append("payer name matches the customer")
        return
    if payer.customer_id == candidate.customer_id:
        candidate.confidence = min(99, candidate.confidence + 2)
        candidate.reasons.append(f"payer account {payer.account} is the customer's")
    else:
        candidate.confidence -= 10
        candidate.reasons.append(
            f"payer account {payer.account} belongs to {payer.customer.number}"
        )


def _by_payer(line, context, payer, notes) -> list[Candidate]:
    """The known payer's open invoices: one of the exact amount, or a combination."""
    if payer is None:
        return []
    customer = payer.customer
    label = f"{customer.number} {customer.name}"
    reason = f"payer account {payer.account} is known for {customer.number}"
    open_invoices = list(
        Invoice.objects.filter(
            customer=customer, currency=line.currency, status__in=OPEN_STATUSES
        ).order_by("due_date", "pk")[:SUBSET_INVOICES]
    )
    exact = [i for i in open_invoices if i.open_amount == line.amount]
    if exact:
        confidence = 96 if len(exact) == 1 else 70
        return [
            Candidate(
                customer.pk,
                label,
                [(invoice, line.amount)],
                confidence,
                [reason, f"amount equals the open amount of {invoice.number}"],
            )
            for invoice in exact
        ]
    combination = _combination(open_invoices, line.amount)
    if combination:
        numbers = ", ".join(i.number for i in combination)
        return [
            Candidate(
                customer.pk,
                label,
                [(i, i.open_amount) for i in combination],
                92,
                [reason, f"amount is the sum of {numbers}"],
            )
        ]
    return [
        Candidate(
            customer.pk,
            label,
            [],
            60,
            [reason, "no open invoice or combination matches: put on account"],
            action=A.ON_ACCOUNT,
        )
    ]


def _combination(invoices, amount) -> list[Invoice] | None:
    """The first combination of 2-5 invoices, oldest first, that sums to
    ``amount``; None when none does within the search's bounds."""
    tries = 0
    for size in range(2, min(SUBSET_MAX_SIZE, len(invoices)) + 1):
        for combo in combinations(invoices, size):
            tries += 1
            if tries > SUBSET_MAX_TRIES:
                return None
            if sum(i.open_amount for i in combo) == amount:
                return list(combo)
    return None


# --- amount alone ---------------------------------------------------------------------


def _by_amount(line, payer) -> list[Candidate]:
    invoices = list(
        Invoice.objects.filter(
            currency=line.currency, open_amount=line.amount, status__in=OPEN_STATUSES
        )
        .select_related("customer")
        .order_by("due_date", "pk")[:AMOUNT_MATCHES]
    )
    candidates = []
    for invoice in invoices:
        customer = invoice.customer
        label = f"{customer.number} {customer.name}"
        reasons = [f"amount equals the open amount of {invoice.number}"]
        confidence = 65 if len(invoices) == 1 else 40
        if len(invoices) == 1:
            reasons.append("the only open invoice of this amount")
        if line.payer_name and _similar(line.payer_name, customer.name):
            confidence += 20
            reasons.append("payer name matches the customer")
        if payer is not None and payer.customer_id != customer.pk:
            confidence -= 20
        candidates.append(
            Candidate(customer.pk, label, [(invoice, line.amount)], confidence, reasons)
        )
    return candidates


_LEGAL_FORMS = re.compile(
    r"\b(GMBH|AG|KG|LTD|LIMITED|INC|LLC|SA|SARL|BV|NV|PLC|CO|CORP|& CO)\b\.?"
)


def _similar(payer_name: str, customer_name: str) -> bool:
    def clean(name):
        return " ".join(_LEGAL_FORMS.sub(" ", name.upper()).split())

    payer, customer = clean(payer_name), clean(customer_name)
    if not payer or not customer:
        return False
    return payer in customer or SequenceMatcher(None, payer, customer).ratio() > 0.85


# --- ranking --------------------------------------------------------------------------


def _merge(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per (customer, invoices), the strongest, with every reason."""
    merged: dict[tuple, Candidate] = {}
    for candidate in candidates:
        known = merged.get(candidate.key)
        if known is None:
            merged[candidate.key] = candidate
            continue
        best, other = (
            (candidate, known)
            if candidate.confidence > known.confidence
            else (known, candidate)
        )
        best.reasons += [r for r in other.reasons if r not in best.reasons]
        best.learn = best.learn or other.learn
        merged[candidate.key] = best
    ranked = sorted(merged.values(), key=lambda c: -c.confidence)
    for candidate in ranked:
        candidate.confidence = max(0, min(100, candidate.confidence))
    return ranked
