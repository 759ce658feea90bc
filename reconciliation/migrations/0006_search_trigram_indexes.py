"""On PostgreSQL, trigram indexes for the search box (reports.search).

Django writes ``icontains``/``istartswith`` as ``UPPER(column) LIKE UPPER(...)``,
so the GIN indexes are on ``UPPER(column)`` with pg_trgm's operator class; the
exact amount lookups get plain b-tree indexes led by the organization. SQLite
has no pg_trgm: there the migration does nothing and the search scans.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS payment_number_trgm_idx
    ON reconciliation_payment USING gin (UPPER(number) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS payment_reference_trgm_idx
    ON reconciliation_payment USING gin (UPPER(reference) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS payment_amount_idx
    ON reconciliation_payment (organization_id, amount);
"""
DROP = """
DROP INDEX IF EXISTS payment_number_trgm_idx;
DROP INDEX IF EXISTS payment_reference_trgm_idx;
DROP INDEX IF EXISTS payment_amount_idx;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0005_bank_statements_and_matching")]
    operations = [migrations.RunPython(forwards, backwards)]
