"""Reads over import jobs."""

from django.db.models import QuerySet

from invoicing.imports.services import JOB_KINDS
from o2c.models import Job


def import_jobs() -> QuerySet[Job]:
    """The organization's import jobs, newest first."""
    return Job.objects.filter(kind__in=JOB_KINDS.values()).select_related("created_by")
