"""Row-level security on orders's tenant tables (PostgreSQL only; see o2c.rls)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0004_customer_name_lookup_sqlite"),
        ("o2c", "0005_row_level_security"),
    ]

    operations = [row_level_security("orders")]
