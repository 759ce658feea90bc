"""Row-level security on the forecast snapshots (PostgreSQL only; see o2c.rls)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [("reports", "0003_forecast_snapshot")]

    operations = [row_level_security("reports")]
