"""On PostgreSQL, refuse UPDATE and DELETE of ledger entries in the database itself.

The services never change an entry (corrections are reversal entries); this trigger
is an extra guard against a stray UPDATE from a shell or a future bug. SQLite has
no equivalent worth its cost and relies on the service layer and the tests.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION invoicing_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the receivables ledger is append-only: post a reversal instead'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER invoicing_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON invoicing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION invoicing_ledger_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS invoicing_ledgerentry_append_only ON invoicing_ledgerentry;
DROP FUNCTION IF EXISTS invoicing_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
