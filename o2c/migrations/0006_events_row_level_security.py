"""Row-level security on the events table (created beside the policies of 0005)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [
        ("o2c", "0005_events"),
        ("o2c", "0005_row_level_security"),
    ]

    operations = [row_level_security("o2c")]
