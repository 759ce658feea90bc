"""Row-level security on collecting's tenant tables (PostgreSQL only; see o2c.rls)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [
        ("collecting", "0003_email_delivery_tracking"),
        ("o2c", "0005_row_level_security"),
    ]

    operations = [row_level_security("collecting")]
