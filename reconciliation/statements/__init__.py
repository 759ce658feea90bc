"""Bank-statement readers, one module per format; see :mod:`.base` for what each
produces."""
