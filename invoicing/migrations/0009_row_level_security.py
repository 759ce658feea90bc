"""Row-level security on invoicing's tenant tables (PostgreSQL only; see o2c.rls)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0008_merge_discount_and_email_text"),
        ("o2c", "0005_row_level_security"),
    ]

    operations = [row_level_security("invoicing")]
