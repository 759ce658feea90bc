"""On SQLite, ``0006`` rebuilt the customer table to change the segment field
(SQLite alters a column by copying the table), and the copy keeps only the
indexes the models declare: the name lookup's index of ``0004``, made by hand,
was lost. Made again here, by ``0004``'s own steps."""

from importlib import import_module

from django.db import migrations

name_lookup = import_module("orders.migrations.0004_customer_name_lookup_sqlite")


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_customer_segment_index_by_organization")]
    operations = [migrations.RunPython(name_lookup.forwards, name_lookup.backwards)]
