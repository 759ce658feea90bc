"""Row-level security on the payment-prediction table (created beside the policies)."""

from django.db import migrations

from o2c.rls import row_level_security


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0009_payment_prediction"),
        ("invoicing", "0009_row_level_security"),
    ]

    operations = [row_level_security("invoicing")]
