"""Running the matching engine over statement lines and applying its matches.

For each open incoming line the engine's candidates are stored as ranked
suggestions. The best one is applied automatically, through
:func:`reconciliation.services.lines.lines_apply`, only when its confidence
reaches the organization's threshold **and** it leads the next candidate by the
margin; otherwise the line waits in the exceptions queue (``needs_review``) with
its suggestions and the reasons nothing was applied. Running it twice is
harmless: a line no longer open is skipped.

Lines are matched in runs of up to :data:`CHUNK` per transaction (see
:func:`_match_run`), each line ending as it would matched alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.models import Job
from o2c.money import quantize
from o2c.services import Actor, audit_batch, transition_many
from reconciliation.matching.engine import Candidate, MatchContext, candidates_for
from reconciliation.models import MatchSuggestion, StatementLine
from reconciliation.services.bank_accounts import reconciliation_settings
from reconciliation.services.lines import (
    LineAllocation,
    LineApplication,
    LineDiscount,
    LineWriteOff,
    line_apply,
    lines_apply,
)
from reconciliation.services.statements import job_actor, job_claim, job_finish

logger = logging.getLogger(__name__)

MATCH_JOB = "match_bank_lines"
PROGRESS_EVERY = 100
CHUNK = 100  # lines matched in one transaction
ENGINE = Actor.system("matching engine")
L = StatementLine


def lines_match(
    *,
    line_ids: list[int],
    again: bool = False,
    progress: Callable[[int, list[str]], None] | None = None,
) -> dict:
    """Match the lines, up to :data:`CHUNK` in a transaction; returns counts by
    outcome. ``progress`` hears, after each transaction, how many lines are
    done and the outcomes of that transaction's lines.

    Lines the engine has looked at already (in the queue) are left alone unless
    ``again`` (a person asks for a fresh look after adding invoices or payer
    accounts), so a second run of the same job changes nothing."""
    context = MatchContext.load(reconciliation_settings())
    counts = {"matched_auto": 0, "needs_review": 0, "skipped": 0}
    statuses = L.OPEN if again else (L.Status.NEW,)
    waiting, done = list(line_ids), 0
    while waiting:
        outcomes = _match_run(waiting[:CHUNK], context, statuses)
        waiting = waiting[len(outcomes) :]
        done += len(outcomes)
        for outcome in outcomes:
            counts[outcome] += 1
        if progress is not None:
            progress(done, outcomes)
    return counts


def line_match(*, line_id: int, context: MatchContext, statuses=(L.Status.NEW,)) -> str:
    """Match one line (see :func:`lines_match`)."""
    return _match_run([line_id], context, statuses)[0]


@transaction.atomic
@audit_batch()
def _match_run(line_ids: list[int], context: MatchContext, statuses) -> list[str]:
    """Match a leading run of ``line_ids`` in one transaction and return their
    outcomes, in order.

    Every line's candidates are found before anything is applied, from one
    prefetch for all of them, and the automatic matches are applied together
    (one payment service call, one ledger posting). So that each line still
    sees what the lines before it did, as if matched one by one, the run stops
    at the first line whose candidates concern an invoice, a customer or a
    payer account that an earlier line of the run is about to change: that line
    and the rest are the next run's (the first line of a run always goes)."""
    lines = {
        line.pk: line
        for line in L.objects.select_for_update().filter(pk__in=line_ids).order_by("pk")
    }
    waiting = [
        line
        for pk in line_ids
        if (line := lines.get(pk)) is not None and line.status in statuses
    ]
    context.prefetch([line for line in waiting if _is_receipt(line)])
    claims = _Claims()
    outcomes: dict[int, str] = {}
    found: list[tuple[StatementLine, list[Candidate]]] = []
    automatic: list[tuple[StatementLine, Candidate, list[str]]] = []
    queued: list[tuple[StatementLine, list[str]]] = []
    taken = []
    try:
        for pk in line_ids:
            line = lines.get(pk)
            if line is None or line.status not in statuses:
                outcomes[pk] = "skipped"
                taken.append(pk)
                continue
            if not _is_receipt(line):
                queued.append((line, [NOT_A_RECEIPT]))
                taken.append(pk)
                continue
            result = candidates_for(line, context)
            if claims.touched(line, result.candidates):
                break
            taken.append(pk)
            found.append((line, result.candidates))
            reason = _why_not_automatic(result.candidates, context)
            if reason is None:
                claims.claim(line, result.candidates[0])
                automatic.append((line, result.candidates[0], result.notes))
            else:
                queued.append((line, [*result.notes, reason]))
    finally:
        context.forget()
    suggestions = _store_suggestions(found)
    queued += _apply(automatic, outcomes)
    _to_queue(queued, suggestions)
    for line, _ in queued:
        outcomes[line.pk] = "needs_review"
    return [outcomes[pk] for pk in taken]


NOT_A_RECEIPT = "a reversal of an outgoing payment, not a receipt"


def _is_receipt(line: StatementLine) -> bool:
    return line.direction == L.Direction.CREDIT and not line.is_reversal


class _Claims:
    """What the automatic matches of a run will change: a later line of the run
    whose candidates concern any of it waits for the next run."""

    def __init__(self):
        self.invoices: set[int] = set()
        self.customers: set[int] = set()
        self.accounts: set[str] = set()

    def touched(self, line: StatementLine, candidates: list[Candidate]) -> bool:
        if line.payer_account and line.payer_account in self.accounts:
            return True
        return any(
            candidate.customer_id in self.customers
            or any(invoice.pk in self.invoices for invoice, _ in candidate.allocations)
            for candidate in candidates
        )

    def claim(self, line: StatementLine, best: Candidate) -> None:
        self.customers.add(best.customer_id)
        self.invoices.update(invoice.pk for invoice, _ in best.allocations)
        if best.learn and line.payer_account:
            self.accounts.add(line.payer_account)


def _why_not_automatic(candidates: list[Candidate], context) -> str | None:
    settings = context.settings
    if not candidates:
        return "nothing to apply"
    best = candidates[0]
    if best.action == MatchSuggestion.Action.ON_ACCOUNT or not best.allocations:
        return "no invoice to apply to"
    if best.confidence < settings.auto_apply_threshold:
        return (
            f"best match {best.confidence}% is below the threshold of "
            f"{settings.auto_apply_threshold}%"
        )
    if len(candidates) > 1:
        lead = best.confidence - candidates[1].confidence
        if lead < settings.auto_apply_margin:
            return (
                f"best match leads the next by {lead} points, less than the margin "
                f"of {settings.auto_apply_margin}"
            )
    return None


def _apply(automatic, outcomes: dict[int, str]) -> list[tuple]:
    """Apply the automatic matches, all together; when that is refused, one by
    one, so that only the refused ones go to the queue (returned with their
    reasons)."""
    if not automatic:
        return []
    try:
        with transaction.atomic():
            lines_apply(
                [_application(line, best) for line, best, _ in automatic],
                actor=ENGINE,
                locked=True,  # by _match_run
            )
    except DomainError:
        pass
    else:
        outcomes.update((line.pk, "matched_auto") for line, _, _ in automatic)
        return []
    refused = []
    for line, best, notes in automatic:
        line.refresh_from_db()  # as the rolled-back attempt left it
        try:
            with transaction.atomic():
                lines_apply([_application(line, best)], actor=ENGINE, locked=True)
            outcomes[line.pk] = "matched_auto"
        except DomainError as error:
            reason = f"applying the best match failed: {error.message}"
            refused.append((line, [*notes, reason]))
    return refused


def _application(line: StatementLine, best: Candidate) -> LineApplication:
    return LineApplication(
        line=line,
        allocations=[
            LineAllocation(invoice, amount) for invoice, amount in best.allocations
        ],
        write_offs=[
            LineWriteOff(invoice, amount, "Short payment within tolerance")
            for invoice, amount in best.write_offs
        ],
        discounts=[LineDiscount(invoice, amount) for invoice, amount in best.discounts],
        automatic=True,
        reason="; ".join(best.reasons),
        confidence=best.confidence,
        learn=best.learn,
    )


def _store_suggestions(found) -> dict[int, list[MatchSuggestion]]:
    """Each line's candidates as its ranked suggestions (replacing earlier
    ones): one DELETE and one INSERT for all the lines."""
    MatchSuggestion.objects.filter(line__in=[line for line, _ in found]).delete()
    rows = MatchSuggestion.objects.bulk_create(
        MatchSuggestion(
            organization_id=line.organization_id,
            line=line,
            rank=rank,
            customer_id=candidate.customer_id,
            invoices=[
                {
                    "invoice": invoice.pk,
                    "number": invoice.number,
                    "amount": str(quantize(amount, line.currency)),
                }
                | _write_off_of(candidate, invoice, line.currency)
                | _discount_of(candidate, invoice, line.currency)
                for invoice, amount in candidate.allocations
            ],
            confidence=candidate.confidence,
            reasons=candidate.reasons,
            action=candidate.action,
        )
        for line, candidates in found
        for rank, candidate in enumerate(candidates, start=1)
    )
    per_line = defaultdict(list)
    for row in rows:
        per_line[row.line_id].append(row)
    return per_line


def _write_off_of(candidate: Candidate, invoice, currency: str) -> dict:
    for written_off, amount in candidate.write_offs:
        if written_off.pk == invoice.pk:
            return {"write_off": str(quantize(amount, currency))}
    return {}


def _discount_of(candidate: Candidate, invoice, currency: str) -> dict:
    for discounted, amount in candidate.discounts:
        if discounted.pk == invoice.pk:
            return {"discount": str(quantize(amount, currency))}
    return {}


def _to_queue(queued, suggestions: dict[int, list[MatchSuggestion]]) -> None:
    changes = []
    for line, reasons in queued:
        ranked = suggestions.get(line.pk, [])
        changes.append(
            (
                line,
                {"reasons": reasons, "suggestions": len(ranked)},
                {
                    "match_reason": "; ".join(reasons),
                    "confidence": ranked[0].confidence if ranked else None,
                },
            )
        )
    transition_many(
        changes, to_status=L.Status.NEEDS_REVIEW, actor=ENGINE, action="queued"
    )


@transaction.atomic
def line_apply_suggestion(
    *, line: StatementLine, suggestion: MatchSuggestion, actor: Actor
) -> StatementLine:
    """A person takes a suggestion of the queue as it stands."""
    if suggestion.line_id != line.pk:
        raise DomainError(
            "invalid", "The suggestion belongs to another line.", field="suggestion"
        )
    invoice_ids = [item["invoice"] for item in suggestion.invoices]
    invoices = Invoice.objects.in_bulk(invoice_ids)
    allocations, write_offs, discounts = [], [], []
    for item in suggestion.invoices:
        invoice = invoices[item["invoice"]]
        allocations.append(LineAllocation(invoice, Decimal(item["amount"])))
        if item.get("write_off"):
            write_offs.append(
                LineWriteOff(invoice, Decimal(item["write_off"]), "Short payment")
            )
        if item.get("discount"):
            discounts.append(LineDiscount(invoice, Decimal(item["discount"])))
    on_account = suggestion.customer if not allocations else None
    return line_apply(
        line=line,
        allocations=allocations,
        write_offs=write_offs,
        discounts=discounts,
        on_account=on_account,
        reason="; ".join(suggestion.reasons),
        confidence=suggestion.confidence,
        actor=actor,
    )


# --- the matching job -----------------------------------------------------------------


def _job_progress(job: Job) -> Callable[[int, list[str]], None]:
    """Keep the job's progress, every :data:`PROGRESS_EVERY` lines or so."""
    shown = 0

    def progress(done: int, outcomes: list[str]) -> None:
        nonlocal shown
        if done - shown >= PROGRESS_EVERY:
            Job.objects.filter(pk=job.pk).update(progress=done)
            shown = done

    return progress


def match_job_run(*, job_id: int) -> Job | None:
    """Run a queued matching job once; lines matched meanwhile are skipped."""
    job = job_claim(job_id, kind=MATCH_JOB)
    if job is None:
        return None
    actor = job_actor(job)
    try:
        counts = lines_match(
            line_ids=job.parameters.get("line_ids", []),
            progress=_job_progress(job),
        )
    except Exception:
        logger.exception("Matching job %s stopped", job.pk)
        return job_finish(
            job,
            Job.Status.FAILED,
            actor,
            result={
                "message": f"Matching stopped on an unexpected error (job {job.pk}); "
                "lines matched so far stay matched, run it again for the rest."
            },
        )
    job.progress = job.total
    message = (
        f"{counts['matched_auto']} applied automatically, "
        f"{counts['needs_review']} in the exceptions queue."
    )
    return job_finish(
        job,
        Job.Status.SUCCEEDED,
        actor,
        result=counts | {"message": message, "finished": timezone.now().isoformat()},
    )
