"""Many tenants share one database: every index on a tenant table selects one
organization's rows, so no query of a small tenant walks a large one's entries.

An index passes when it leads with ``organization_id``; with the primary key (a
lookup by id is one row); or with a foreign key to another tenant row (every row
under one customer's id is that customer's organization's) or to a person (a user
works for a handful of organizations, and the rows under their id are theirs).
The rest are listed below, each with the reason it is global by design. The
indexes are read from PostgreSQL's catalogue after the migrations, so one added
by hand in a migration counts as much as one declared on a model.
"""

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, models

from o2c.models import Organization

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# (table, leading column): looked up before any organization is known, unique
# across all of them by design.
GLOBAL_KEYS = {
    # The customer's portal link carries only the token; its row names the tenant.
    ("invoicing_portalaccess", "token_hash"): "portal link",
    # An email provider's webhook arrives at a URL carrying only this token.
    ("collecting_emailproviderendpoint", "token"): "email provider webhook",
    # An API key is found by its prefix, which then names its organization.
    ("o2c_organizationapikey", "prefix"): "API key",
}

# (table, leading column): read across organizations on purpose, or narrow
# enough that one value never reaches past a handful of rows.
CROSS_TENANT_BY_DESIGN = {
    # The hourly expiry deletes every organization's expired keys by age.
    ("o2c_idempotencyrecord", "created_at"): "idempotency expiry",
    # djangorestframework-api-key's own field; an organization lists its few keys
    # through the organization index.
    ("o2c_organizationapikey", "created"): "API key library",
    # The duplicate-import check filters organization, kind and hash: one
    # SHA-256 matches the jobs of one file only.
    ("o2c_job", "input_sha256"): "duplicate import check",
}

# Trigram indexes for the search box (GIN, by name: they index an expression).
# GIN has no leading column to put the organization in — with btree_gin it would
# be one more key whose posting list is intersected, not a prefix that narrows
# the scan. The search queries filter by organization; the tenants benchmark
# (bench/tenants.py) times the search dropdown in the shared database beside the
# same tenant alone.
TRIGRAM_SEARCH = {
    "customer_name_trgm_idx",
    "customer_number_trgm_idx",
    "invoice_number_trgm_idx",
    "invoice_reference_trgm_idx",
    "creditnote_number_trgm_idx",
    "payment_number_trgm_idx",
    "payment_reference_trgm_idx",
}

INDEXES_SQL = """
SELECT i.relname, lead.attname, x.indisprimary
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
LEFT JOIN pg_attribute lead ON lead.attrelid = t.oid AND lead.attnum = x.indkey[0]
WHERE t.relname = %s AND t.relnamespace = 'public'::regnamespace
ORDER BY i.relname
"""


def tenant_models():
    return [
        model
        for model in apps.get_models()
        if not model._meta.proxy
        and any(
            field.is_relation and field.related_model is Organization
            for field in model._meta.concrete_fields
            if field.name == "organization"
        )
    ]


def scoped_columns(model) -> set[str]:
    """Columns whose value belongs to one organization or one person."""
    tenant_tables = {m._meta.db_table for m in tenant_models()}
    user_table = apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table
    return {
        field.column
        for field in model._meta.concrete_fields
        if isinstance(field, models.ForeignKey)  # one-to-one fields too
        and field.related_model._meta.db_table in tenant_tables | {user_table}
    }


def indexes_of(table: str) -> list[tuple[str, str | None, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES_SQL, [table])
        return cursor.fetchall()


def cross_tenant_indexes() -> list[str]:
    found = []
    for model in tenant_models():
        table, primary_key = model._meta.db_table, model._meta.pk.column
        allowed = {"organization_id", primary_key} | scoped_columns(model)
        for name, column, is_primary in indexes_of(table):
            if is_primary or column in allowed or name in TRIGRAM_SEARCH:
                continue
            if (table, column) in GLOBAL_KEYS | CROSS_TENANT_BY_DESIGN:
                continue
            found.append(f"{table}.{name} leads with {column or 'an expression'}")
    return found


def test_every_index_on_a_tenant_table_selects_one_organization():
    assert cross_tenant_indexes() == []


def test_the_rule_sees_tenant_tables_and_their_indexes():
    tables = {model._meta.db_table for model in tenant_models()}
    assert {"invoicing_invoice", "orders_customer", "o2c_membership"} <= tables
    assert "o2c_organization" not in tables
    names = {name for name, _, _ in indexes_of("invoicing_invoice")}
    assert TRIGRAM_SEARCH & names  # the catalogue query reads this database


def test_an_index_leading_with_another_column_is_reported():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX invoice_due_date_only ON invoicing_invoice (due_date)"
        )
    assert cross_tenant_indexes() == [
        "invoicing_invoice.invoice_due_date_only leads with due_date"
    ]


def test_every_exception_names_an_index_that_exists():
    leading = {
        (model._meta.db_table, column)
        for model in tenant_models()
        for _, column, _ in indexes_of(model._meta.db_table)
    }
    names = {
        name
        for model in tenant_models()
        for name, _, _ in indexes_of(model._meta.db_table)
    }
    assert set(GLOBAL_KEYS | CROSS_TENANT_BY_DESIGN) <= leading
    assert names >= TRIGRAM_SEARCH
