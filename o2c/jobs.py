"""Claiming jobs, and jobs that lost their worker found and handed back.

A job (an import, an export, a statement import, a matching run) is claimed by
its task through :func:`job_claim`: a conditional UPDATE that also takes over a
job left ``running`` past ``CELERY_TASK_TIME_LIMIT`` (its worker is certainly
gone), with its audit event. What brings the
task back for such a job is not guaranteed: a worker process killed under
``task_reject_on_worker_lost`` has its task redelivered at once, while the job
still looks alive, and that delivery leaves it alone. And a job whose enqueue
was lost (the broker down when the request committed) stays ``queued``.

:func:`jobs_sweep` (beat, every 15 minutes, per organization) enqueues the task
of every such job again; the task's claim decides, so a sweep that races a live
worker changes nothing. Each app registers which task runs its kinds of job
(:func:`register_job_task`), so the kernel names no app.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from o2c import celery
from o2c.models import Job
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization

#: A queued job not started after this long lost its enqueue.
LOST_ENQUEUE = timedelta(minutes=10)
_TASKS: dict[str, str] = {}


def storable(value):
    """``value`` (a job's result or errors) as JSON PostgreSQL can store: a NUL
    character, which a message quoting a binary file may carry, is refused by
    ``jsonb``, so it is shown as the replacement character instead."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def register_job_task(kind: str, task_name: str) -> None:
    """Jobs of ``kind`` (a kind, or a prefix ending in ``*``) run ``task_name``,
    which takes (organization id, job id)."""
    _TASKS[kind] = task_name


def task_for(kind: str) -> str | None:
    if kind in _TASKS:
        return _TASKS[kind]
    for pattern, task_name in _TASKS.items():
        if pattern.endswith("*") and kind.startswith(pattern[:-1]):
            return task_name
    return None


def job_enqueue_on_commit(job: Job) -> None:
    """Start the task registered for ``job``'s kind once the transaction that
    queued the job commits (if the enqueue is lost, :func:`jobs_sweep` brings
    it back)."""
    transaction.on_commit(partial(_enqueue, job.kind, job.organization_id, job.pk))


def _enqueue(kind: str, organization_id: int, job_id: int) -> None:
    if task_for(kind) is None:
        # A web process has not imported the apps' task modules, which
        # register their kinds (workers do at start): run the discovery once.
        celery.app.loader.import_default_modules()
    celery.enqueue(task_for(kind), organization_id, job_id)


def _dead_before(now):
    """A job running since before this has lost its worker."""
    return now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def job_claim(job_id: int, *, kinds: Q, actor_of: Callable[[Job], Actor]) -> Job | None:
    """Take the job ``job_id`` (of ``kinds``) for this run if it is queued or lost
    its worker; None when another run has it or it is finished. The conditional
    UPDATE is the claim; the audit event says whether it was a take-over."""
    now = timezone.now()
    claimable = Job.objects.filter(kinds, pk=job_id).filter(
        Q(status=Job.Status.QUEUED)
        | Q(status=Job.Status.RUNNING, started_at__lt=_dead_before(now))
    )
    # Read before the claim only to name it in the audit trail.
    previous = claimable.values_list("status", flat=True).first()
    if not claimable.update(status=Job.Status.RUNNING, started_at=now, progress=0):
        return None
    job = Job.objects.get(pk=job_id)
    audit_record(
        actor=actor_of(job),
        obj=job,
        action="reclaimed" if previous == Job.Status.RUNNING else "status:running",
        from_status=previous or Job.Status.QUEUED,
        to_status=Job.Status.RUNNING,
    )
    return job


def stale_jobs(*, now=None):
    now = now or timezone.now()
    return Job.objects.filter(
        Q(status=Job.Status.RUNNING, started_at__lt=_dead_before(now))
        | Q(status=Job.Status.QUEUED, created_at__lt=now - LOST_ENQUEUE)
    ).order_by("pk")


def jobs_sweep(*, now=None) -> int:
    """Enqueue again the task of each stale job of the organization; returns how
    many were enqueued."""
    organization_id = current_organization().pk
    enqueued = 0
    for job_id, kind in stale_jobs(now=now).values_list("pk", "kind"):
        task_name = task_for(kind)
        if task_name is not None:
            celery.enqueue(task_name, organization_id, job_id)
            enqueued += 1
    return enqueued
