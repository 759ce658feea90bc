"""Row-level security on PostgreSQL: the database's guard behind the tenant
managers (README "Tenant isolation").

Every table of a :class:`~o2c.tenancy.TenantModel` gets ``ENABLE`` and ``FORCE ROW
LEVEL SECURITY`` and the policy ``tenant_isolation``: a row is visible, and may be
written, only when its ``organization_id`` is the session's
``o2c.organization_id`` or the session says ``o2c.all_tenants = on``. The setting
follows :mod:`o2c.tenancy` (see :mod:`o2c.db.postgresql.base`).

A migration that creates a tenant model ends with
``row_level_security("app_label")``; ``tests/o2c/test_row_level_security.py`` and
the ``o2c.W001`` database check fail for a tenant table without the policy. On
SQLite all of this is a no-op and the managers remain the guard.
"""

from __future__ import annotations

import re

from django.apps import apps as live_apps
from django.conf import settings
from django.core import checks
from django.db import connections, migrations

POLICY = "tenant_isolation"
CONDITION = (
    "organization_id = "
    "NULLIF(current_setting('o2c.organization_id', true), '')::bigint "
    "OR current_setting('o2c.all_tenants', true) = 'on'"
)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def tenant_models(app_label: str | None = None) -> list:
    from o2c.tenancy import TenantModel

    return [
        model
        for model in live_apps.get_models()
        if issubclass(model, TenantModel)
        and model._meta.managed
        and not model._meta.proxy
        and (app_label is None or model._meta.app_label == app_label)
    ]


def app_role() -> str:
    role = settings.O2C_APP_ROLE
    if not _ROLE_NAME.match(role):
        raise ValueError(f"DATABASE_APP_ROLE {role!r} is not a plain role name.")
    return role


# --- migrations ---------------------------------------------------------------------


def row_level_security(app_label: str) -> migrations.RunPython:
    """The migration operation that guards ``app_label``'s tenant tables.

    It finds them in the app registry when it runs (the tenant models of the app
    that exist at this point of the migration history) and is idempotent, so a
    later migration adding a tenant model simply runs it again. It also grants the
    application role the app's tables.
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        tables = _tables_in_state(apps, app_label)
        with schema_editor.connection.cursor() as cursor:
            for table in tables:
                for statement in policy_sql(table, schema_editor.quote_name):
                    cursor.execute(statement)
            grant_app_role(cursor, schema_editor.quote_name)
            mark_search_operators_leakproof(cursor)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        with schema_editor.connection.cursor() as cursor:
            for table in _tables_in_state(apps, app_label):
                cursor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {quote(table)}")
                cursor.execute(
                    f"ALTER TABLE {quote(table)} NO FORCE ROW LEVEL SECURITY"
                )
                cursor.execute(f"ALTER TABLE {quote(table)} DISABLE ROW LEVEL SECURITY")

    return migrations.RunPython(forwards, backwards, elidable=False)


def _tables_in_state(apps, app_label: str) -> list[str]:
    tables = []
    for model in tenant_models(app_label):
        try:
            historical = apps.get_model(app_label, model._meta.model_name)
        except LookupError:
            continue  # created by a later migration, which runs this again
        tables.append(historical._meta.db_table)
    return tables


def policy_sql(table: str, quote) -> list[str]:
    name = quote(table)
    return [
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
        # FORCE: the table's owner is bound too (a superuser never is).
        f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {name}",
        f"CREATE POLICY {POLICY} ON {name} USING ({CONDITION}) "
        f"WITH CHECK ({CONDITION})",
    ]


def create_app_role(apps, schema_editor):
    """Create the NOLOGIN application role unless it exists (roles belong to the
    cluster); an owner without CREATEROLE leaves that to the administrator."""
    if schema_editor.connection.vendor != "postgresql":
        return
    role = app_role()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} NOLOGIN;
                END IF;
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'Cannot create role {role}: create it as an admin.';
            END $$
            """
        )
        grant_app_role(cursor, schema_editor.quote_name)


def grant_app_role(cursor, quote) -> None:
    """The application role may read and write every table and sequence of the
    schema, today's and (default privileges) those later migrations create."""
    role = app_role()
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone() is None:
        return
    cursor.execute("SELECT current_schema()")
    schema = quote(cursor.fetchone()[0])
    role = quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
        f"TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
    ):
        cursor.execute(statement)


# Row-level security lets the planner use a condition in an index scan only when its
# functions are LEAKPROOF (they could otherwise see rows the policy hides). The
# search box (``UPPER(col) LIKE …``, reports.search) and the payer-name matching
# (``<%``, reconciliation.matching.names) would lose their trigram indexes and scan
# the whole organization. These functions reveal nothing of the rows they read
# beyond their result, so they are marked LEAKPROOF — which only a superuser may do.
SEARCH_FUNCTIONS = (
    "pg_catalog.upper(text)",
    "pg_catalog.textlike(text, text)",
    "word_similarity_op(text, text)",
    "word_similarity_commutator_op(text, text)",
)


def mark_search_operators_leakproof(cursor) -> None:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    if not row or not row[0]:
        return  # README "Tenant isolation": an administrator runs it once
    for signature in SEARCH_FUNCTIONS:
        cursor.execute("SELECT to_regprocedure(%s)", [signature])
        if cursor.fetchone()[0] is not None:  # pg_trgm's may not be installed
            cursor.execute(f"ALTER FUNCTION {signature} LEAKPROOF")


# --- the check ----------------------------------------------------------------------


def unguarded_tables(connection) -> list[str]:
    """Tenant tables of this database that lack forced row-level security or the
    ``tenant_isolation`` policy (tables not migrated yet are not counted)."""
    tables = [model._meta.db_table for model in tenant_models()]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relname = ANY(%s)
              AND c.relrowsecurity AND c.relforcerowsecurity
              AND EXISTS (
                  SELECT FROM pg_policy p
                  WHERE p.polrelid = c.oid AND p.polname = %s
              )
            """,
            [tables, POLICY],
        )
        guarded = {row[0] for row in cursor.fetchall()}
    existing = set(connection.introspection.table_names())
    return sorted(t for t in tables if t in existing and t not in guarded)


@checks.register(checks.Tags.database)
def check_row_level_security(app_configs=None, databases=None, **kwargs):
    """``manage.py check --database default``: every tenant table is guarded."""
    problems = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        for table in unguarded_tables(connection):
            problems.append(
                checks.Warning(
                    f"Tenant table {table} has no row-level security policy.",
                    hint="End the migration that creates it with "
                    "o2c.rls.row_level_security(app_label), then migrate.",
                    id="o2c.W001",
                )
            )
    return problems
