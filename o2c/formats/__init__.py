"""Format modules per interface language (``FORMAT_MODULE_PATH``).

The interface language decides the words, not how a raw number or date renders:
inputs, ``data-*`` attributes and charts read ``{{ amount }}`` as ``1234.50``
whatever the language. People see amounts and dates through the ``money`` and
``orgdate`` filters, in the organization's locale and date format.
"""
