"""Reports read from a PostgreSQL replica when one is configured (README "Running on
several machines").

With ``REPORTS_DATABASE_URL`` set, the settings add the database alias
:data:`REPORTS` and :class:`ReportsReplicaRouter`. The routing is narrow and
explicit: only code inside :func:`report_reads` — the report pages and their API,
and an export job while it writes its file — reads the business apps' tables from
the replica. Everything else reads the primary, and every write, migration and
``select_for_update`` goes to the primary whatever the context:

- writes: :meth:`ReportsReplicaRouter.db_for_write` is always ``default``;
- ``select_for_update`` marks a queryset for writing, so it takes the same path;
- a transaction open on the primary keeps its reads there too, so code that
  writes and then reads (a metrics refresh) never mixes in older replica rows;
- the platform kernel (users, sessions, memberships, jobs, idempotency keys) is
  never routed: a sign-in or a job created a moment ago is always found.

The replica's connection uses the same backend as the primary
(:mod:`o2c.db.postgresql`), so it carries the tenant setting row-level security
needs, on its own session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPORTS = "reports"
# The apps whose rows the reports read; o2c (the kernel) stays on the primary.
REPLICATED_APPS = frozenset(
    {"orders", "invoicing", "collecting", "reconciliation", "reports"}
)

_reading_reports: ContextVar[bool] = ContextVar("o2c_reading_reports", default=False)


@contextmanager
def report_reads() -> Iterator[None]:
    """Reads of report figures inside go to the replica (when one is configured)."""
    token = _reading_reports.set(True)
    try:
        yield
    finally:
        _reading_reports.reset(token)


def replica_configured() -> bool:
    return REPORTS in settings.DATABASES


def report_database() -> str:
    """The alias a report read uses now: the replica inside :func:`report_reads`,
    unless a transaction is open on the primary; else the primary."""
    if (
        _reading_reports.get()
        and replica_configured()
        and not connections[DEFAULT_DB_ALIAS].in_atomic_block
    ):
        return REPORTS
    return DEFAULT_DB_ALIAS


class ReportsReplicaRouter:
    """Installed only with ``REPORTS_DATABASE_URL`` (see the module docstring)."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label in REPLICATED_APPS:
            return report_database()
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same rows (the replica follows the primary).
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica gets the schema by replication, never by migrate.
        return db == DEFAULT_DB_ALIAS
