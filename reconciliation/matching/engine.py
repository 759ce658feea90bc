"""Candidates for one incoming statement line, with a confidence and reasons.

Evidence, strongest first:

- a creditor reference (RF, check digits valid) or invoice numbers in the
  remittance text, confirmed by the amount (exact, short within the tolerance,
  or over: the rest stays on the customer's account);
- the payer's account, known from earlier confirmed matches, with the exact
  amount of one of that customer's open invoices or of a combination of them
  (a bounded subset search, oldest first);
- the payer's name on the line, recognised among the customers' names
  (:mod:`.names`: normalised, scored with rapidfuzz, found through an index),
  with the exact amount of one of that customer's open invoices or a sum of
  several; only a strong, unique name with one invoice's exact amount may reach
  the threshold;
- the exact amount of one open invoice anywhere, the payer's name agreeing.

An invoice issued with an early-payment discount is also matched by its open
amount less the discount, when the money arrived (value date, else booking
date) by the discount date plus the organization's grace days: the discount is
then granted with the payment. After that day the same amount is a short
payment like any other.

Lookups go through indexes only: invoices by number (unique per organization),
open invoices by amount (``invoice_open_amount_idx``), the payer by account
(unique per organization), one customer's open invoices
(``invoice_open_customer_idx``), customers by name (trigram index on
PostgreSQL, a bounded prefix range on SQLite); no scan grows with the size of
the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from itertools import combinations

from django.db import connection
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.selectors import OPEN_STATUSES
from o2c.models import Sequence
from o2c.money import quantize
from o2c.tenancy import current_organization
from reconciliation.matching.names import (
    NameMatch,
    customers_named,
    name_score,
    normalise,
)
from reconciliation.matching.text import invoice_number_candidates, read_references
from reconciliation.models import (
    CustomerBankAccount,
    MatchSuggestion,
    ReconciliationSettings,
    RemittanceAdvice,
    StatementLine,
)
from reconciliation.services.payments import discount_allowed, discount_words

A = MatchSuggestion.Action
MAX_SUGGESTIONS = 5
SUBSET_INVOICES = 24  # a customer's oldest open invoices tried in combinations
SUBSET_MAX_SIZE = 5
SUBSET_MAX_TRIES = 20_000
AMOUNT_MATCHES = 6  # open invoices of one amount looked at, org-wide
# Payer names: a "strong" name scores at least this and leads every other
# customer's name by the margin; only such a name with the exact amount of one
# invoice may be applied without a person.
NAME_STRONG = 92
NAME_MARGIN = 10
NAME_CONSIDERED = 75  # weaker resemblances are not suggested at all
NAME_CUSTOMERS = 3  # customers of resembling name looked at per line
NAME_SIMILAR = 85  # "the payer's name matches" for other kinds of evidence

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
    discounts: list[tuple[Invoice, Decimal]] = field(default_factory=list)
    learn: bool = False  # applying it confirms the payer's account

    @property
    def customer_name(self) -> str:
        return self.customer_label.split(" ", 1)[-1]

    @property
    def key(self) -> tuple:
        return (self.customer_id, tuple(sorted(i.pk for i, _ in self.allocations)))


@dataclass
class MatchContext:
    """What a matching run looks up once, not per line."""

    settings: ReconciliationSettings
    prefix: str = "INV-"
    padding: int = 6
    #: (currency, amount) of the customers' open remittance advice, read once per
    #: run, so that a line of another amount costs no query for it.
    advised: frozenset = frozenset()
    #: What :meth:`prefetch` read for a batch of lines, in one query per kind:
    #: payer accounts, invoices by number, open invoices by amount, the known
    #: payers' oldest open invoices. A lookup outside it asks the database.
    _payers: dict | None = None
    _numbered: dict | None = None
    _amounts: dict | None = None
    _customers_open: dict = field(default_factory=dict)
    _numbers: dict = field(default_factory=dict)
    _names: dict = field(default_factory=dict)

    @classmethod
    def load(cls, settings: ReconciliationSettings) -> MatchContext:
        sequence = Sequence.objects.filter(name="invoice").first()
        advised = frozenset(
            RemittanceAdvice.objects.filter(
                status=RemittanceAdvice.Status.OPEN,
                created_at__gte=timezone.now() - timedelta(days=ADVICE_DAYS),
            ).values_list("currency", "amount")
        )
        if sequence is None:
            return cls(settings=settings, advised=advised)
        return cls(
            settings=settings,
            prefix=sequence.prefix,
            padding=sequence.padding,
            advised=advised,
        )

    # --- lookups, from the batch's prefetch where there is one -----------------

    def prefetch(self, lines: list[StatementLine]) -> None:
        """Read what the engine will look up for ``lines``, one query per kind
        instead of one per line. Valid until the next write to the invoices or
        payer accounts: call :meth:`forget` after applying anything."""
        accounts = {line.payer_account for line in lines if line.payer_account}
        self._payers = dict.fromkeys(accounts)
        if accounts:
            for payer in CustomerBankAccount.objects.filter(
                account__in=accounts
            ).select_related("customer"):
                self._payers[payer.account] = payer
        numbers = set()
        for line in lines:
            numbers.update(self.numbers_in(line))
        self._numbered = dict.fromkeys(numbers)
        if numbers:
            for invoice in Invoice.objects.filter(number__in=numbers).select_related(
                "customer"
            ):
                self._numbered[invoice.number] = invoice
        self._amounts = _open_by_amount({(li.currency, li.amount) for li in lines})
        self._customers_open = _open_of_customers(
            {
                (payer.customer_id, line.currency)
                for line in lines
                if (payer := self._payers.get(line.payer_account)) is not None
            }
        )

    def forget(self) -> None:
        self._payers = self._numbered = self._amounts = None
        self._customers_open = {}

    def numbers_in(self, line: StatementLine) -> dict[str, str]:
        """The invoice numbers the line's texts may name, with their evidence
        (read once per line and run)."""
        key = (line.structured_reference, line.remittance)
        if key not in self._numbers:
            references = read_references(*key)
            self._numbers[key] = (
                invoice_number_candidates(
                    references, prefix=self.prefix, padding=self.padding
                )
                if references
                else {}
            )
        return self._numbers[key]

    def customers_named(self, payer_name: str) -> list[NameMatch]:
        """Customers whose name resembles the payer's (once per name and run:
        a payer who pays several invoices is looked up once)."""
        if payer_name not in self._names:
            self._names[payer_name] = customers_named(payer_name)
        return self._names[payer_name]

    def payer(self, account: str) -> CustomerBankAccount | None:
        if self._payers is not None and account in self._payers:
            return self._payers[account]
        return (
            CustomerBankAccount.objects.filter(account=account)
            .select_related("customer")
            .first()
        )

    def invoices_numbered(self, numbers) -> list[Invoice]:
        if self._numbered is not None and all(n in self._numbered for n in numbers):
            return [self._numbered[n] for n in sorted(numbers) if self._numbered[n]]
        return list(
            Invoice.objects.filter(number__in=list(numbers))
            .select_related("customer")
            .order_by("number")
        )

    def open_of_amount(self, currency: str, amount: Decimal) -> list[Invoice]:
        """The oldest open invoices of exactly ``amount`` (index
        ``invoice_open_amount_idx``), as many as the engine looks at."""
        if self._amounts is not None and (currency, amount) in self._amounts:
            return self._amounts[currency, amount]
        return list(
            Invoice.objects.filter(
                currency=currency, open_amount=amount, status__in=OPEN_STATUSES
            )
            .select_related("customer")
            .order_by("due_date", "pk")[:AMOUNT_MATCHES]
        )

    def open_invoices_of(self, customer, currency: str) -> list[Invoice]:
        """The customer's oldest open invoices in the currency (index
        ``invoice_open_customer_idx``), as many as the subset search tries."""
        if (customer.pk, currency) in self._customers_open:
            return self._customers_open[customer.pk, currency]
        return list(
            Invoice.objects.filter(
                customer=customer, currency=currency, status__in=OPEN_STATUSES
            ).order_by("due_date", "pk")[:SUBSET_INVOICES]
        )

    def tolerance(self, amount: Decimal, currency: str) -> Decimal:
        """The short payment accepted on ``amount``: the larger of the percent
        and the absolute amount for the currency (zero when neither is set)."""
        percent = amount * self.settings.short_payment_tolerance_percent / 100
        absolute = Decimal(
            str(self.settings.short_payment_tolerance_amounts.get(currency, "0"))
        )
        return max(percent, absolute)

    def discount_for(self, invoice: Invoice, line: StatementLine) -> Decimal:
        """The early-payment discount the line's cash earns on ``invoice`` (zero
        when it has none, the terms are over, or the setting is off)."""
        if not self.settings.early_payment_discount:
            return Decimal(0)
        if not discount_allowed(
            invoice, line.paid_on, grace_days=self.settings.discount_grace_days
        ):
            return Decimal(0)
        discount = min(invoice.discount_amount, invoice.open_amount)
        return discount if discount < invoice.open_amount else Decimal(0)


def _open_by_amount(pairs: set[tuple[str, Decimal]]) -> dict:
    """(currency, amount) → its oldest open invoices, for every pair at once."""
    fields = ("currency", "open_amount")
    if connection.vendor != "postgresql" or not pairs:
        return _oldest_open(pairs, fields, AMOUNT_MATCHES, related=("customer",))
    # Per pair the first entries of ``invoice_open_amount_idx`` (amount, then
    # due date): a few rows read however many invoices share a common amount.
    with connection.cursor() as cursor:
        cursor.execute(
            _OLDEST_OF_AMOUNT,
            [
                [currency for currency, _ in pairs],
                [amount for _, amount in pairs],
                current_organization().pk,
                list(OPEN_STATUSES),
                AMOUNT_MATCHES,
            ],
        )
        ids = [row[0] for row in cursor.fetchall()]
    rows = Invoice.objects.select_related("customer").in_bulk(ids).values()
    return _by_key(pairs, fields, rows)


_OLDEST_OF_AMOUNT = """
SELECT invoice.id
FROM unnest(%s::varchar[], %s::numeric[]) AS wanted(currency, amount)
CROSS JOIN LATERAL (
    SELECT id FROM invoicing_invoice
    WHERE organization_id = %s AND currency = wanted.currency
      AND open_amount = wanted.amount AND status = ANY(%s)
    ORDER BY due_date, id
    LIMIT %s
) AS invoice
"""


def _open_of_customers(keys: set[tuple[int, str]]) -> dict:
    """(customer id, currency) → the customer's oldest open invoices in it."""
    return _oldest_open(keys, ("customer_id", "currency"), SUBSET_INVOICES)


def _oldest_open(keys: set[tuple], fields: tuple[str, ...], limit: int, related=()):
    """Values of ``fields`` → the oldest ``limit`` open invoices with them (due
    date, then id), for every key at once: one query ranking per key."""
    if not keys:
        return {}
    condition = Q()
    for key in keys:
        condition |= Q(**dict(zip(fields, key, strict=True)))
    rows = (
        Invoice.objects.filter(condition, status__in=OPEN_STATUSES)
        .select_related(*related)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F(name) for name in fields],
                order_by=[F("due_date").asc(), F("pk").asc()],
            )
        )
        .filter(rank__lte=limit)
    )
    return _by_key(keys, fields, rows)


def _by_key(keys: set[tuple], fields: tuple[str, ...], invoices) -> dict:
    found = {key: [] for key in keys}
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.pk)):
        found[tuple(getattr(invoice, name) for name in fields)].append(invoice)
    return found


@dataclass
class MatchResult:
    candidates: list[Candidate]
    notes: list[str]  # why nothing (more) could be proposed


def candidates_for(line: StatementLine, context: MatchContext) -> MatchResult:
    notes: list[str] = []
    payer = context.payer(line.payer_account) if line.payer_account else None
    found, names_invoices = _by_reference(line, context, payer, notes)
    found += _by_payer(line, context, payer, notes)
    if payer is None and not names_invoices:
        found += _by_name(line, context)
    found += _by_amount(line, context, payer)
    if (line.currency, line.amount) in context.advised:
        found += _by_remittance_advice(line, payer)
    ranked = _merge(found)
    if not ranked:
        notes.append("no open invoice matches the reference, payer or amount")
    return MatchResult(candidates=ranked[:MAX_SUGGESTIONS], notes=notes)


# --- reference ------------------------------------------------------------------------


def _by_reference(line, context, payer, notes) -> tuple[list[Candidate], bool]:
    """Candidates from the invoices the text names, and whether it names any
    invoice at all (usable or not: one already paid or in another currency
    still says the payer meant that one)."""
    numbers = context.numbers_in(line)
    if not numbers:
        return [], False
    invoices = context.invoices_numbered(numbers)
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
    return candidates, bool(invoices)


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
    discounted = _with_discounts(line, invoices, context)
    if discounted is not None:
        kind, allocations, discounts, reasons = discounted
        return candidate(
            kind,
            allocations,
            reasons,
            action=A.APPLY_WITH_DISCOUNT,
            discounts=discounts,
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


def _with_discounts(line, invoices, context):
    """The line pays the invoices (or exactly one of them) less their
    early-payment discounts, within the terms: (kind, allocations, discounts,
    reasons), or None."""
    discounts = {i.pk: context.discount_for(i, line) for i in invoices}
    if not any(discounts.values()):
        return None
    after_discount = sum(
        (i.open_amount - discounts[i.pk] for i in invoices), Decimal(0)
    )
    if line.amount == after_discount:
        chosen, kind = invoices, "exact"
    else:
        single = [
            i for i in invoices if discounts[i.pk] and fits_discounted(i, line, context)
        ]
        if len(invoices) == 1 or len(single) != 1:
            return None
        chosen, kind = single, "one_of"
    allocations = [(i, i.open_amount - discounts[i.pk]) for i in chosen]
    granted = [(i, discounts[i.pk]) for i in chosen if discounts[i.pk]]
    reasons = [
        f"amount equals the open amount less the discount "
        f"({money(line.amount, line.currency)})",
        *(discount_words(i, amount, line.paid_on) for i, amount in granted),
    ]
    return kind, allocations, granted, reasons


def fits_discounted(invoice: Invoice, line, context) -> bool:
    """The line's amount is the invoice's open amount less its discount, and
    the discount is still allowed for it."""
    discount = context.discount_for(invoice, line)
    return bool(discount) and invoice.open_amount - discount == line.amount


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


def _weigh_payer(candidate: Candidate, line, payer) -> None:
    if payer is None:
        if line.payer_name and _similar(line.payer_name, candidate.customer_name):
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
    open_invoices = context.open_invoices_of(customer, line.currency)
    exact = _exact_fits(open_invoices, line, context)
    if exact:
        confidence = 96 if len(exact) == 1 else 70
        return [
            _single_invoice_candidate(customer, label, fit, confidence, [reason], line)
            for fit in exact
        ]
    combination = _combination(open_invoices, line.amount)
    if combination:
        return [_sum_candidate(customer, label, combination, 92, [reason])]
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


def _exact_fits(invoices, line, context) -> list[tuple[Invoice, Decimal]]:
    """Invoices the line pays exactly: (invoice, discount granted). The open
    amount itself, or the open amount less an early-payment discount still
    allowed."""
    fits = []
    for invoice in invoices:
        if invoice.open_amount == line.amount:
            fits.append((invoice, Decimal(0)))
        elif fits_discounted(invoice, line, context):
            fits.append((invoice, context.discount_for(invoice, line)))
    return fits


def _sum_candidate(customer, label, combination, confidence, reasons) -> Candidate:
    """Several open invoices of one customer whose sum is the line's amount."""
    numbers = ", ".join(i.number for i in combination)
    return Candidate(
        customer.pk,
        label,
        [(i, i.open_amount) for i in combination],
        confidence,
        [*reasons, f"amount is the sum of {numbers}"],
    )


def _single_invoice_candidate(customer, label, fit, confidence, reasons, line):
    invoice, discount = fit
    if not discount:
        return Candidate(
            customer.pk,
            label,
            [(invoice, line.amount)],
            confidence,
            [*reasons, f"amount equals the open amount of {invoice.number}"],
        )
    return Candidate(
        customer.pk,
        label,
        [(invoice, line.amount)],
        confidence,
        [
            *reasons,
            f"amount equals the open amount of {invoice.number} less its discount",
            discount_words(invoice, discount, line.paid_on),
        ],
        action=A.APPLY_WITH_DISCOUNT,
        discounts=[(invoice, discount)],
    )


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


# --- payer name -----------------------------------------------------------------------


def _by_name(line, context) -> list[Candidate]:
    """Customers whose name the payer's resembles, with the line's amount in
    their open invoices. Conservative: only the best name, strong and well ahead
    of every other customer's, with the exact amount of one invoice reaches the
    threshold; a sum of invoices, a weaker or shared name waits for a person."""
    if not line.payer_name:
        return []
    matches = [
        match
        for match in context.customers_named(line.payer_name)
        if match.score >= NAME_CONSIDERED
    ]
    if not matches:
        return []
    best = matches[0]
    runner_up = matches[1] if len(matches) > 1 else None
    unique = runner_up is None or runner_up.score <= best.score - NAME_MARGIN
    candidates = []
    for match in matches[:NAME_CUSTOMERS]:
        strong = match is best and unique and match.score >= NAME_STRONG
        reasons = [_name_words(line, match)]
        if not unique:
            other = runner_up if match is best else best
            reasons.append(
                f"also resembles {other.customer.number} {other.customer.name} "
                f"({other.score} %)"
            )
        candidates += _name_candidates(line, context, match, strong, reasons)
    return candidates


def _name_words(line, match: NameMatch) -> str:
    customer = match.customer
    return (
        f"payer name '{line.payer_name}' matches customer {customer.number} "
        f"{customer.name} ({match.score} %)"
    )


def _name_candidates(line, context, match, strong, reasons) -> list[Candidate]:
    customer = match.customer
    label = f"{customer.number} {customer.name}"
    open_invoices = context.open_invoices_of(customer, line.currency)
    exact = _exact_fits(open_invoices, line, context)
    if len(exact) == 1:
        confidence = 95 if strong else 80 if match.score >= NAME_STRONG else 70
        fit = exact[0]
        return [
            _single_invoice_candidate(customer, label, fit, confidence, reasons, line)
        ]
    if exact:
        several = f"{len(exact)} open invoices of this amount"
        return [
            _single_invoice_candidate(
                customer, label, fit, 55, [*reasons, several], line
            )
            for fit in exact
        ]
    combination = _combination(open_invoices, line.amount)
    if combination:
        confidence = 88 if strong else 70
        return [_sum_candidate(customer, label, combination, confidence, reasons)]
    if strong:
        return [
            Candidate(
                customer.pk,
                label,
                [],
                55,
                [*reasons, "no open invoice or combination matches: put on account"],
                action=A.ON_ACCOUNT,
            )
        ]
    return []


# --- amount alone ---------------------------------------------------------------------


def _by_amount(line, context, payer) -> list[Candidate]:
    invoices = context.open_of_amount(line.currency, line.amount)
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


# --- the customer's remittance advice ------------------------------------------------

ADVICE_MATCHES = 3  # open advice of one amount looked at, org-wide
ADVICE_DAYS = 180  # advice older than this is no longer a hint
ADVICE_CONFIDENCE = 85


def _by_remittance_advice(line, payer) -> list[Candidate]:
    """Advice from the portal of exactly the line's amount and currency: its
    invoices, while still open, at their open amounts if those sum to the line
    (else the line's amount, oldest first). A hint, below the auto-apply
    threshold unless the payer's name or account agrees."""
    advice_rows = list(
        RemittanceAdvice.objects.filter(
            status=RemittanceAdvice.Status.OPEN,
            currency=line.currency,
            amount=line.amount,
            created_at__gte=timezone.now() - timedelta(days=ADVICE_DAYS),
        )
        .select_related("customer")
        .order_by("-paid_on", "-pk")[:ADVICE_MATCHES]
    )
    candidates = []
    for advice in advice_rows:
        invoices = [
            invoice
            for invoice in advice.invoices.filter(status__in=OPEN_STATUSES).order_by(
                "due_date", "pk"
            )
        ]
        if not invoices:
            continue
        customer = advice.customer
        total = sum((invoice.open_amount for invoice in invoices), Decimal(0))
        allocations = (
            [(invoice, invoice.open_amount) for invoice in invoices]
            if total == line.amount
            else _oldest_first(invoices, line.amount)
        )
        numbers = ", ".join(invoice.number for invoice in invoices)
        reasons = [
            f"the customer's remittance advice of {advice.paid_on.isoformat()} "
            f"names {numbers} for this amount"
        ]
        confidence = ADVICE_CONFIDENCE if total == line.amount else 70
        if advice.reference and advice.reference.lower() in (
            f"{line.remittance} {line.structured_reference}".lower()
        ):
            confidence += 8
            reasons.append("the advised transfer reference is on the line")
        if line.payer_name and _similar(line.payer_name, customer.name):
            confidence += 5
            reasons.append("payer name matches the customer")
        if payer is not None and payer.customer_id != customer.pk:
            confidence -= 30
        candidates.append(
            Candidate(
                customer.pk,
                f"{customer.number} {customer.name}",
                allocations,
                confidence,
                reasons,
            )
        )
    return candidates


def _similar(payer_name: str, customer_name: str) -> bool:
    return name_score(normalise(payer_name), normalise(customer_name)) >= NAME_SIMILAR


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
