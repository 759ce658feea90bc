"""Background work of reconciliation: statement imports and matching runs."""

from celery import shared_task

from o2c.jobs import register_job_task
from o2c.tasks import tenant_task
from reconciliation.services.matching import MATCH_JOB, match_job_run
from reconciliation.services.statements import IMPORT_JOB, statement_import_run


@shared_task(name="reconciliation.import_statement", acks_late=True)
@tenant_task
def import_statement(organization_id: int, job_id: int) -> None:
    """Idempotent: a job already running, succeeded or failed is left alone."""
    statement_import_run(job_id=job_id)


@shared_task(name="reconciliation.match_statement_lines", acks_late=True)
@tenant_task
def match_statement_lines(organization_id: int, job_id: int) -> None:
    """Idempotent: lines no longer open are skipped."""
    match_job_run(job_id=job_id)


register_job_task(IMPORT_JOB, "reconciliation.import_statement")
register_job_task(MATCH_JOB, "reconciliation.match_statement_lines")
