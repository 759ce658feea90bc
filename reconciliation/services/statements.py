"""Bank statement import: parsed statements become statement lines, once.

Flow: :func:`statement_import_job_create` stores an upload on a :class:`Job` and
enqueues ``reconciliation.import_statement`` on commit; the task calls
:func:`statement_import_run`, which reads the file (:func:`statement_import_file`,
the readers under ``reconciliation/statements/``) and stores it
(:func:`statement_import_parsed`), then queues the matching job for the new lines.

Rules
    A file is imported all or nothing. The same file again (same sha256 for the same
    account) creates nothing and says "already imported". An overlapping statement
    adds only the lines not seen before: a line's identity is (account, booking
    date, amount, bank reference), a unique constraint. A line without a bank
    reference gets one derived from its content, so that the same transaction read
    twice is still one line and two equal payments on a day are still two.
    Opening balance + lines must equal the closing balance (the readers check it;
    the import checks the lines it stores again). Debits are kept with status
    ``debit`` and never matched. A reversal (a debit flagged ``is_reversal``) of an
    earlier credit finds that credit and reverses its payments and write-offs.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from o2c.errors import DomainError
from o2c.jobs import job_claim as claim_job
from o2c.jobs import job_enqueue_on_commit, storable
from o2c.models import Job, Role
from o2c.money import exact_amount, validate_currency
from o2c.services import Actor, audit_record, transition
from o2c.tenancy import current_organization
from reconciliation.models import BankAccount, BankStatement, StatementLine
from reconciliation.services.bank_accounts import compact_account
from reconciliation.services.lines import line_reverse_by_bank
from reconciliation.statements import (
    FORMATS,
    ColumnMapping,
    ParsedEntry,
    ParsedStatement,
    StatementError,
    max_bytes,
    parse_statement,
)

logger = logging.getLogger(__name__)

IMPORT_JOB = "import_bank_statement"
L = StatementLine


@dataclass
class ImportResult:
    statements: int = 0
    lines: int = 0
    new_lines: int = 0
    duplicates: int = 0
    reversals: int = 0
    already_imported: bool = False
    statement_ids: list[int] = field(default_factory=list)
    new_credit_line_ids: list[int] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.already_imported:
            return "Already imported; nothing new."
        return (
            f"{self.new_lines} new lines from {self.statements} statement(s)"
            + (f"; {self.duplicates} already known" if self.duplicates else "")
            + "."
        )

    def as_dict(self) -> dict:
        return {
            "statements": self.statements,
            "lines": self.lines,
            "created": self.new_lines,
            "duplicates": self.duplicates,
            "reversals": self.reversals,
            "already_imported": self.already_imported,
            "statement_ids": self.statement_ids,
            "message": self.message,
        }


# --- parsed statements -> lines ------------------------------------------------------


@transaction.atomic
def statement_import_parsed(
    *,
    bank_account: BankAccount,
    statements: list[ParsedStatement],
    source_name: str,
    file_hash: str,
    file_format: str = "",
    actor: Actor,
) -> ImportResult:
    """Store ``statements`` read from one file; all or nothing."""
    bank_account = BankAccount.objects.select_for_update().get(pk=bank_account.pk)
    result = ImportResult()
    if BankStatement.objects.filter(
        bank_account=bank_account, file_hash=file_hash
    ).exists():
        result.already_imported = True
        return result
    if not statements:
        raise DomainError("empty_file", "The file holds no statement.", field="file")
    for sequence, parsed in enumerate(statements):
        _check_statement(parsed, bank_account, sequence)
        statement = _store_statement(
            parsed, bank_account, sequence, source_name, file_hash, file_format, actor
        )
        result.statements += 1
        result.statement_ids.append(statement.pk)
        _store_lines(parsed, statement, actor, result)
    return result


def _check_statement(parsed: ParsedStatement, account: BankAccount, sequence: int):
    where = f"statements[{sequence}]"
    named = compact_account(parsed.account)
    if named and named not in {account.iban, account.account_number}:
        raise DomainError(
            "wrong_account",
            f"The statement is for account {named}, not {account.name} "
            f"({account.iban or account.account_number}).",
            field=f"{where}.account",
        )
    currency = validate_currency(parsed.currency)
    if currency != account.currency:
        raise DomainError(
            "currency_mismatch",
            f"The statement is in {currency}; account {account.name} is in "
            f"{account.currency}.",
            field=f"{where}.currency",
        )
    try:
        parsed.check_balances()
    except StatementError as error:
        raise DomainError("balance_mismatch", str(error), field=where) from None
    movement = sum(
        (exact_amount(entry.amount, entry.currency) for entry in parsed.entries),
        Decimal(0),
    )
    balanced = parsed.opening_balance is not None and parsed.closing_balance is not None
    # The readers checked their own figures; this checks the lines as stored.
    if balanced and parsed.opening_balance + movement != parsed.closing_balance:
        raise DomainError(
            "balance_mismatch",
            f"Opening balance {parsed.opening_balance} plus lines {movement} is "
            f"{parsed.opening_balance + movement}, but the closing balance is "
            f"{parsed.closing_balance}.",
            field=where,
        )


def _store_statement(
    parsed, account, sequence, source_name, file_hash, file_format, actor
) -> BankStatement:
    statement = BankStatement.objects.create(
        organization=account.organization,
        bank_account=account,
        file_hash=file_hash,
        source_name=source_name[:255],
        file_format=file_format[:20],
        statement_id=parsed.statement_id[:100],
        kind=parsed.kind
        if parsed.kind in BankStatement.Kind.values
        else BankStatement.Kind.STATEMENT,
        sequence=sequence,
        currency=account.currency,
        opening_balance=parsed.opening_balance,
        closing_balance=parsed.closing_balance,
        opening_date=parsed.opening_date,
        closing_date=parsed.closing_date,
        line_count=len(parsed.entries),
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    return statement


def _store_lines(parsed, statement, actor, result: ImportResult) -> None:
    account = statement.bank_account
    lines = [_new_line(entry, statement) for entry in parsed.entries]
    _give_references(lines, parsed.entries)
    known = _known_identities(account, lines)
    seen = set()
    new_lines = []
    for line in lines:
        identity = (line.booking_date, line.amount, line.bank_reference)
        if identity in known or identity in seen:
            result.duplicates += 1
            continue
        seen.add(identity)
        new_lines.append(line)
    StatementLine.objects.bulk_create(new_lines)
    result.lines += len(lines)
    result.new_lines += len(new_lines)
    BankStatement.objects.filter(pk=statement.pk).update(new_line_count=len(new_lines))
    for line in new_lines:
        if line.direction == L.Direction.CREDIT and not line.is_reversal:
            result.new_credit_line_ids.append(line.pk)
        elif (
            line.is_reversal
            and line.direction == L.Direction.DEBIT
            and line_reverse_by_bank(reversal=line, actor=actor)
        ):
            result.reversals += 1
    audit_record(
        actor=actor,
        obj=statement,
        action="imported",
        data={
            "file": statement.source_name,
            "lines": len(lines),
            "new_lines": len(new_lines),
        },
    )


def _new_line(entry: ParsedEntry, statement: BankStatement) -> StatementLine:
    currency = validate_currency(entry.currency or statement.currency)
    amount = exact_amount(entry.amount, currency, field=entry.location or "amount")
    if amount == 0:
        raise DomainError(
            "invalid_amount",
            "A statement line of zero cannot be imported.",
            field=entry.location or "amount",
        )
    credit = amount > 0
    return StatementLine(
        organization=statement.organization,
        statement=statement,
        bank_account=statement.bank_account,
        booking_date=entry.booking_date,
        value_date=entry.value_date,
        amount=amount,
        currency=currency,
        direction=L.Direction.CREDIT if credit else L.Direction.DEBIT,
        bank_reference=entry.bank_reference[:140],
        entry_reference=entry.entry_reference[:140],
        end_to_end_id=entry.end_to_end_id[:140],
        remittance=entry.remittance,
        structured_reference=entry.structured_reference[:140],
        payer_name=entry.payer_name[:200],
        payer_account=compact_account(entry.payer_account)[:40],
        payer_bic=entry.payer_bic[:11],
        transaction_code=entry.transaction_code[:40],
        is_reversal=entry.is_reversal,
        status=L.Status.NEW if credit or entry.is_reversal else L.Status.DEBIT,
    )


def _give_references(lines: list[StatementLine], entries: list[ParsedEntry]) -> None:
    """Lines without a bank reference get one from their content and how many
    equal lines came before it in the statement: stable across re-reads of the
    same transactions, different for two equal payments on one day."""
    occurrences: Counter = Counter()
    for line, entry in zip(lines, entries, strict=True):
        if line.bank_reference:
            continue
        content = "|".join(
            str(part)
            for part in (
                line.booking_date, line.amount, line.currency, entry.entry_reference,
                entry.end_to_end_id, entry.remittance, entry.structured_reference,
                entry.payer_name, line.payer_account, entry.is_reversal,
            )
        )  # fmt: skip
        occurrences[content] += 1
        digest = hashlib.sha256(f"{content}|{occurrences[content]}".encode())
        line.bank_reference = f"derived:{digest.hexdigest()[:32]}"


def _known_identities(account: BankAccount, lines: list[StatementLine]) -> set:
    if not lines:
        return set()
    dates = [line.booking_date for line in lines]
    return set(
        StatementLine.objects.filter(
            bank_account=account, booking_date__range=(min(dates), max(dates))
        ).values_list("booking_date", "amount", "bank_reference")
    )


# --- files ------------------------------------------------------------------------


def statement_import_file(
    *,
    bank_account: BankAccount,
    data: bytes,
    filename: str,
    file_format: str | None = None,
    actor: Actor,
) -> ImportResult:
    """Read a statement file with the format's reader and import it."""
    file_hash = hashlib.sha256(data).hexdigest()
    if BankStatement.objects.filter(
        bank_account=bank_account, file_hash=file_hash
    ).exists():
        return ImportResult(already_imported=True)
    try:
        mapping = (
            ColumnMapping.from_dict(bank_account.column_mapping)
            if bank_account.column_mapping
            else None
        )
        statements = parse_statement(
            data, filename=filename, file_format=file_format, mapping=mapping
        )
    except StatementError as error:
        raise DomainError("invalid_file", str(error), field="file") from None
    return statement_import_parsed(
        bank_account=bank_account,
        statements=statements,
        source_name=filename,
        file_hash=file_hash,
        file_format=file_format or "",
        actor=actor,
    )


# --- the import job ------------------------------------------------------------------


@transaction.atomic
def statement_import_job_create(
    *, bank_account: BankAccount, file, file_format: str | None = None, actor: Actor
) -> Job:
    """Store an uploaded statement as a queued job; the worker imports it."""
    if file.size > max_bytes():
        raise DomainError(
            "file_too_large",
            f"The file is {file.size / 1024 / 1024:.1f} MB; the limit is "
            f"{max_bytes() / 1024 / 1024:.0f} MB.",
            field="file",
        )
    if file.size == 0:
        raise DomainError("empty_file", "The file is empty.", field="file")
    if file_format and file_format not in FORMATS:
        raise DomainError(
            "invalid_choice",
            f"Format must be one of {', '.join(FORMATS)}.",
            field="format",
        )
    organization = current_organization()
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    job = Job(
        organization=organization,
        kind=IMPORT_JOB,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
        input_name=file.name,
        input_sha256=digest.hexdigest(),
        parameters={
            "bank_account": bank_account.pk,
            "format": file_format or "",
            "requested_by": actor.label,
            "role": actor.role,
        },
    )
    job.input_file.save(
        f"{organization.pk}/{get_valid_filename(file.name)}", file, save=False
    )
    job.save()
    audit_record(
        actor=actor,
        obj=job,
        action="import_requested",
        to_status=job.status,
        data={"file": file.name, "bank_account": bank_account.pk},
    )
    job_enqueue_on_commit(job)
    return job


def statement_import_run(*, job_id: int) -> Job | None:
    """Run a queued statement import once; a finished or running job is left alone."""
    job = job_claim(job_id, kind=IMPORT_JOB)
    if job is None:
        return None
    actor = job_actor(job)
    try:
        # One transaction: the lines, the matching job and the job's success
        # commit together, so a worker dying halfway leaves nothing to clean up.
        with transaction.atomic():
            return _import_and_queue_matching(job, actor)
    except DomainError as error:
        return job_finish(
            job,
            Job.Status.FAILED,
            actor,
            result={"created": 0, "message": f"Nothing was imported: {error.message}"},
            errors=[{"message": error.message, "location": error.field or ""}],
        )
    except Exception:
        logger.exception("Statement import job %s stopped", job.pk)
        message = (
            f"The import stopped on an unexpected error (job {job.pk}); nothing was "
            "imported. Try again, or contact support with the job number."
        )
        return job_finish(
            job, Job.Status.FAILED, actor, result={"created": 0, "message": message}
        )


def _import_and_queue_matching(job: Job, actor: Actor) -> Job:
    account = BankAccount.objects.get(pk=job.parameters["bank_account"])
    with job.input_file.open("rb") as handle:
        data = handle.read()
    result = statement_import_file(
        bank_account=account,
        data=data,
        filename=job.input_name,
        file_format=job.parameters.get("format") or None,
        actor=actor,
    )
    body = result.as_dict()
    if result.new_credit_line_ids:
        matching = matching_job_create(
            line_ids=result.new_credit_line_ids, actor=actor, requested_by=job
        )
        body["matching_job"] = matching.pk
    return job_finish(job, Job.Status.SUCCEEDED, actor, result=body)


# --- job plumbing shared with the matching job ---------------------------------------


def job_claim(job_id: int, *, kind: str) -> Job | None:
    """Take a queued job (or one whose worker died) for this run; None otherwise."""
    return claim_job(job_id, kinds=Q(kind=kind), actor_of=job_actor)


def job_actor(job: Job) -> Actor:
    label = job.parameters.get("requested_by") or f"job {job.pk}"
    return Actor(
        label=label, role=job.parameters.get("role", Role.FINANCE), user=job.created_by
    )


def job_finish(
    job: Job, status: str, actor: Actor, *, result: dict, errors: list | None = None
) -> Job:
    result = {**result, "phase": "done"}
    succeeded = status == Job.Status.SUCCEEDED
    return transition(
        obj=job,
        to_status=status,
        actor=actor,
        action=f"{job.kind}:{'succeeded' if succeeded else 'failed'}",
        data={"created": result.get("created", 0)},
        extra_fields={
            "finished_at": timezone.now(),
            "result": storable(result),
            "errors": storable(errors or []),
            "progress": job.total if succeeded else job.progress,
        },
    )


def matching_job_create(*, line_ids: list[int], actor: Actor, requested_by=None) -> Job:
    """Queue the matching of ``line_ids``; lines no longer open are skipped."""
    from reconciliation.services.matching import MATCH_JOB

    organization = current_organization()
    job = Job.objects.create(
        organization=organization,
        kind=MATCH_JOB,
        total=len(line_ids),
        parameters={
            "line_ids": line_ids,
            "requested_by": actor.label,
            "role": actor.role,
            "import_job": getattr(requested_by, "pk", None),
        },
    )
    job_enqueue_on_commit(job)
    return job
