#!/bin/sh
# The web container's command: bring the schema and static files up to date, then
# serve. Worker and beat wait for web to be healthy, so they never run against an
# unmigrated database.
set -eu
# The login role (the tables' owner) migrates; with DATABASE_APP_ROLE set, the app
# then runs as that role, bound by row-level security (README "Tenant isolation").
DATABASE_APP_ROLE= python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
# gunicorn also reads WEB_CONCURRENCY (workers) and GUNICORN_CMD_ARGS.
exec gunicorn o2c.wsgi --bind "0.0.0.0:${PORT:-8000}" --access-logfile -
