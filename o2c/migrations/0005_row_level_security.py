"""The application role and row-level security on o2c's tenant tables
(PostgreSQL only; see o2c.rls). Each stage app guards its own tables in a
migration of its own that depends on this one."""

from django.db import migrations

from o2c.rls import create_app_role, row_level_security


class Migration(migrations.Migration):
    dependencies = [("o2c", "0004_idempotency_created")]

    operations = [
        migrations.RunPython(create_app_role, migrations.RunPython.noop),
        row_level_security("o2c"),
    ]
