"""On SQLite, an index on (organization, UPPER(name)) for the matching engine's
payer-name lookup, which there falls back to a prefix range on the upper-case
name (``reconciliation.matching.names``). PostgreSQL answers the same lookup
from the trigram index of ``0002`` and needs nothing more.
"""

from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS customer_upper_name_idx
    ON orders_customer (organization_id, UPPER(name));
"""
DROP = "DROP INDEX IF EXISTS customer_upper_name_idx;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_early_payment_discount")]
    operations = [migrations.RunPython(forwards, backwards)]
