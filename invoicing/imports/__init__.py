"""Import of customers, open invoices and settled invoice history (CSV and XLSX).

See ``services`` for what an imported row becomes and ``columns`` for the columns
and their accepted names.
"""
