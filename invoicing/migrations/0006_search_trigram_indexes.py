"""On PostgreSQL, trigram indexes for the search box (reports.search).

Django writes ``icontains``/``istartswith`` as ``UPPER(column) LIKE UPPER(...)``,
so the GIN indexes are on ``UPPER(column)`` with pg_trgm's operator class; the
exact amount lookups get plain b-tree indexes led by the organization. SQLite
has no pg_trgm: there the migration does nothing and the search scans.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS invoice_number_trgm_idx
    ON invoicing_invoice USING gin (UPPER(number) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS invoice_reference_trgm_idx
    ON invoicing_invoice USING gin (UPPER(customer_reference) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS invoice_total_idx
    ON invoicing_invoice (organization_id, total);
CREATE INDEX IF NOT EXISTS creditnote_number_trgm_idx
    ON invoicing_creditnote USING gin (UPPER(number) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS creditnote_total_idx
    ON invoicing_creditnote (organization_id, total);
"""
DROP = """
DROP INDEX IF EXISTS invoice_number_trgm_idx;
DROP INDEX IF EXISTS invoice_reference_trgm_idx;
DROP INDEX IF EXISTS invoice_total_idx;
DROP INDEX IF EXISTS creditnote_number_trgm_idx;
DROP INDEX IF EXISTS creditnote_total_idx;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0005_open_invoices_by_amount_index")]
    operations = [migrations.RunPython(forwards, backwards)]
