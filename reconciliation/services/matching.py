"""Running the matching engine over statement lines and applying its matches.

For each open incoming line the engine's candidates are stored as ranked
suggestions. The best one is applied automatically, through
:func:`reconciliation.services.lines.line_apply`, only when its confidence reaches
the organization's threshold **and** it leads the next candidate by the margin;
otherwise the line waits in the exceptions queue (``needs_review``) with its
suggestions and the reasons nothing was applied. Running it twice is harmless: a
line no longer open is skipped.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.models import Job
from o2c.money import quantize
from o2c.services import Actor, transition
from reconciliation.matching.engine import Candidate, MatchContext, candidates_for
from reconciliation.models import MatchSuggestion, StatementLine
from reconciliation.services.bank_accounts import reconciliation_settings
from reconciliation.services.lines import (
    LineAllocation,
    LineDiscount,
    LineWriteOff,
    line_apply,
)
from reconciliation.services.statements import job_actor, job_claim, job_finish

logger = logging.getLogger(__name__)

MATCH_JOB = "match_bank_lines"
PROGRESS_EVERY = 100
ENGINE = Actor.system("matching engine")
L = StatementLine


def lines_match(
    *, line_ids: list[int], job: Job | None = None, again: bool = False
) -> dict:
    """Match each line in its own transaction; returns counts by outcome.

    Lines the engine has looked at already (in the queue) are left alone unless
    ``again`` (a person asks for a fresh look after adding invoices or payer
    accounts), so a second run of the same job changes nothing."""
    context = MatchContext.load(reconciliation_settings())
    counts = {"matched_auto": 0, "needs_review": 0, "skipped": 0}
    statuses = L.OPEN if again else (L.Status.NEW,)
    for done, line_id in enumerate(line_ids, start=1):
        outcome = line_match(line_id=line_id, context=context, statuses=statuses)
        counts[outcome] += 1
        if job is not None and done % PROGRESS_EVERY == 0:
            Job.objects.filter(pk=job.pk).update(progress=done)
    return counts


@transaction.atomic
def line_match(*, line_id: int, context: MatchContext, statuses=(L.Status.NEW,)) -> str:
    line = L.objects.select_for_update().filter(pk=line_id).first()
    if line is None or line.status not in statuses:
        return "skipped"
    if line.direction != L.Direction.CREDIT or line.is_reversal:
        _to_queue(line, ["a reversal of an outgoing payment, not a receipt"], [])
        return "needs_review"
    result = candidates_for(line, context)
    suggestions = _store_suggestions(line, result.candidates)
    best = result.candidates[0] if result.candidates else None
    reason = _why_not_automatic(result.candidates, context)
    if best is not None and reason is None:
        try:
            with transaction.atomic():
                _apply(line, best)
            return "matched_auto"
        except DomainError as error:
            reason = f"applying the best match failed: {error.message}"
    _to_queue(line, [*(result.notes), *([reason] if reason else [])], suggestions)
    return "needs_review"


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


def _apply(line: StatementLine, best: Candidate) -> None:
    line_apply(
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
        actor=ENGINE,
    )


def _store_suggestions(line, candidates: list[Candidate]) -> list[MatchSuggestion]:
    MatchSuggestion.objects.filter(line=line).delete()
    return MatchSuggestion.objects.bulk_create(
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
        for rank, candidate in enumerate(candidates, start=1)
    )


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


def _to_queue(line, reasons: list[str], suggestions) -> None:
    best = suggestions[0].confidence if suggestions else None
    transition(
        obj=line,
        locked=True,  # by line_match
        to_status=L.Status.NEEDS_REVIEW,
        actor=ENGINE,
        action="queued",
        data={"reasons": reasons, "suggestions": len(suggestions)},
        extra_fields={"match_reason": "; ".join(reasons), "confidence": best},
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


def match_job_run(*, job_id: int) -> Job | None:
    """Run a queued matching job once; lines matched meanwhile are skipped."""
    job = job_claim(job_id, kind=MATCH_JOB)
    if job is None:
        return None
    actor = job_actor(job)
    try:
        counts = lines_match(line_ids=job.parameters.get("line_ids", []), job=job)
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
