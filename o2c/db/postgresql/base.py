"""Django's PostgreSQL backend that keeps the session's tenant setting in step
with :mod:`o2c.tenancy`.

Before a query runs, the connection compares what the context wants
(:func:`~o2c.tenant_state.database_tenant_setting`) with what the session holds and,
when they differ, sends one ``SELECT set_config(...)`` first. So a tenant switch
costs one cheap statement on its first query and nothing after: requests, Celery
tasks and loops over organizations all go through here, whatever opened the
context. The setting is session-level (``is_local = false``) so it also holds in
autocommit; PostgreSQL undoes a ``set_config`` made in a transaction or savepoint
that rolls back, so any rollback makes the connection forget what it set and the
next query sets it again.

``OPTIONS["assume_role"]`` (Django's own, from ``DATABASE_APP_ROLE``) makes each
new connection ``SET ROLE`` to the application role, which row-level security
binds; the owner role that logs in runs the migrations.
"""

from contextlib import contextmanager

from django.db.backends.postgresql import base

from o2c.tenant_state import database_tenant_setting

SET_TENANT_SQL = (
    "SELECT set_config('o2c.organization_id', %s, false), "
    "set_config('o2c.all_tenants', %s, false)"
)
# A new session has neither setting: it sees no tenant rows.
_NEW_SESSION = ("", "off")


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant_setting = None  # what the session holds; None: not known
        # How many set_config statements this connection sent (for the tests
        # that hold the overhead to one per tenant switch).
        self.tenant_setting_statements = 0
        self._tenant_setting_paused_depth = 0
        self.execute_wrappers.append(self._with_tenant_setting)

    def init_connection_state(self):
        super().init_connection_state()
        self.tenant_setting = _NEW_SESSION

    def _rollback(self):
        super()._rollback()
        self.tenant_setting = None

    # Savepoint statements pass by the setting: a rollback to a savepoint may run
    # in a failed transaction, where a set_config would fail.
    def _savepoint(self, sid):
        with self._tenant_setting_paused():
            super()._savepoint(sid)

    def _savepoint_commit(self, sid):
        with self._tenant_setting_paused():
            super()._savepoint_commit(sid)

    def _savepoint_rollback(self, sid):
        with self._tenant_setting_paused():
            super()._savepoint_rollback(sid)
        self.tenant_setting = None

    @contextmanager
    def _tenant_setting_paused(self):
        self._tenant_setting_paused_depth += 1
        try:
            yield
        finally:
            self._tenant_setting_paused_depth -= 1

    def _with_tenant_setting(self, execute, sql, params, many, context):
        wanted = database_tenant_setting()
        # In a broken transaction the query itself reports the error Django
        # expects (TransactionManagementError); a set_config would fail first.
        if (
            wanted != self.tenant_setting
            and not self.needs_rollback
            and not self._tenant_setting_paused_depth
        ):
            with self.wrap_database_errors, self.connection.cursor() as cursor:
                cursor.execute(SET_TENANT_SQL, wanted)
            self.tenant_setting = wanted
            self.tenant_setting_statements += 1
        return execute(sql, params, many, context)
