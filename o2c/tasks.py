"""Celery plumbing: every task acts for exactly one organization."""

import logging
from functools import wraps

from celery import shared_task

from o2c.api.idempotency import expire_keys
from o2c.checks import run_ledger_checks
from o2c.errors import TenantNotSet
from o2c.jobs import jobs_sweep
from o2c.models import Organization
from o2c.tenancy import tenant_context
from o2c.webhooks import events_prune

logger = logging.getLogger(__name__)


def tenant_task(func):
    """Run ``func(organization_id, ...)`` inside that organization's context.

    A task called without an organization raises; one whose organization is gone
    returns quietly (the work has nobody left to do it for).
    """

    @wraps(func)
    def wrapper(organization_id=None, *args, **kwargs):
        if organization_id is None:
            raise TenantNotSet(f"Task {func.__name__} needs an organization_id.")
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return None
        with tenant_context(organization):
            return func(organization_id, *args, **kwargs)

    return wrapper


@shared_task(name="o2c.verify_ledger", acks_late=True)
@tenant_task
def verify_ledger(organization_id):
    """Re-check one organization's ledger; problems are logged for operators."""
    problems = run_ledger_checks()
    for problem in problems:
        logger.error("ledger problem in organization %s: %s", organization_id, problem)
    return len(problems)


@shared_task(name="o2c.verify_all_ledgers")
def verify_all_ledgers():
    """Nightly (beat): one verification task per organization."""
    for organization_id in Organization.objects.values_list("pk", flat=True):
        verify_ledger.delay(organization_id)


@shared_task(name="o2c.sweep_jobs", acks_late=True)
@tenant_task
def sweep_jobs(organization_id):
    """Enqueue again the jobs that lost their worker (see :mod:`o2c.jobs`)."""
    return jobs_sweep()


@shared_task(name="o2c.sweep_all_jobs")
def sweep_all_jobs():
    """Every 15 minutes (beat): one job sweep per organization."""
    for organization_id in Organization.objects.values_list("pk", flat=True):
        sweep_jobs.delay(organization_id)


@shared_task(name="o2c.expire_idempotency_keys")
def expire_idempotency_keys():
    """Hourly (beat): Idempotency-Key records older than 24 hours are deleted."""
    return expire_keys()


@shared_task(name="o2c.prune_events")
def prune_events():
    """Daily: each organization's events older than the events API keeps."""
    pruned = 0
    for organization in Organization.objects.all():
        with tenant_context(organization):
            pruned += events_prune()
    return pruned
