import django.db.models.deletion
from django.db import migrations, models

# The foreign key's own index goes; its constraint stays. Django's AlterField
# would drop and re-add the constraint too, checking every ledger entry again.
FOREIGN_KEY_INDEX = "invoicing_ledgerentry_organization_id_8364679c"


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0014_ledger_index_by_organization_and_id"),
        ("o2c", "0006_events_row_level_security"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="o2c.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {FOREIGN_KEY_INDEX}",
                    f"CREATE INDEX {FOREIGN_KEY_INDEX} "
                    "ON invoicing_ledgerentry (organization_id)",
                ),
            ],
        ),
    ]
