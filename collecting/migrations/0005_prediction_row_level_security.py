"""Row-level security on the payment-prediction table (created beside the policies)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [
        ("collecting", "0004_payment_prediction"),
        ("collecting", "0004_row_level_security"),
    ]

    operations = [row_level_security("collecting")]
