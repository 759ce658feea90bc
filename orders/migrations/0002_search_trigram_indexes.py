"""On PostgreSQL, trigram indexes for the search box (reports.search).

Django writes ``icontains``/``istartswith`` as ``UPPER(column) LIKE UPPER(...)``,
so the GIN indexes are on ``UPPER(column)`` with pg_trgm's operator class; the
exact amount lookups get plain b-tree indexes led by the organization. SQLite
has no pg_trgm: there the migration does nothing and the search scans.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS customer_name_trgm_idx
    ON orders_customer USING gin (UPPER(name) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS customer_number_trgm_idx
    ON orders_customer USING gin (UPPER(number) gin_trgm_ops);
"""
DROP = """
DROP INDEX IF EXISTS customer_name_trgm_idx;
DROP INDEX IF EXISTS customer_number_trgm_idx;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
