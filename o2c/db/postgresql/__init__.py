"""Django's PostgreSQL backend, plus the tenant session setting for row-level
security (see :mod:`o2c.db.postgresql.base`)."""
