#!/usr/bin/env bash
# Schema fuzzing of the REST API (`make fuzz`): schemathesis generates requests from
# the OpenAPI schema and checks every answer against it.
#
# 1. drops and re-creates a throwaway PostgreSQL database (FUZZ_DATABASE_URL, default
#    postgres://postgres@127.0.0.1:5432/o2c_fuzz), migrates it and loads a small
#    organization with seed_demo (customers, invoices, payments, a dunning policy);
# 2. creates an admin API key for it (manage.py create_api_key);
# 3. serves the app with gunicorn on 127.0.0.1 (a free port), rate limits raised so
#    429s do not hide findings, Celery tasks run inline, mail dropped;
# 4. runs `schemathesis run` on /api/schema/ with the checks below, all phases,
#    FUZZ_MAX_EXAMPLES cases per operation and FUZZ_MAX_TIME seconds at most.
# Reports (JUnit, and a pytest file reproducing each failure) go to var/fuzz/.
# The exit status is schemathesis's: 0 when nothing failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
BIN="$(dirname "$PYTHON")"
DATABASE_URL="${FUZZ_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/o2c_fuzz}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-30}"
MAX_TIME="${FUZZ_MAX_TIME:-480}"
PHASES="${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}"
WORKERS="${FUZZ_WORKERS:-2}"
OUT="var/fuzz"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance"
CHECKS="$CHECKS,response_schema_conformance,negative_data_rejection"
CHECKS="$CHECKS,positive_data_acceptance"

export DJANGO_SETTINGS_MODULE=o2c.settings.dev DATABASE_URL DEBUG=false \
    ALLOWED_HOSTS=127.0.0.1,localhost LOG_LEVEL="${LOG_LEVEL:-WARNING}" \
    O2C_REQUIRE_ADMIN_2FA=false REDIS_URL= \
    CELERY_TASK_ALWAYS_EAGER=true \
    EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend \
    API_RATE_LIMIT_KEY=1000000/m API_RATE_LIMIT_USER=1000000/m

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

database="${DATABASE_URL##*/}"
server="${DATABASE_URL%/*}/postgres"
say "Re-creating database $database"
"$PYTHON" - "$server" "$database" <<'EOF'
import sys

import psycopg2
from psycopg2 import sql

connection = psycopg2.connect(sys.argv[1])
connection.autocommit = True
with connection.cursor() as cursor:
    name = sql.Identifier(sys.argv[2])
    cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    cursor.execute(sql.SQL("CREATE DATABASE {}").format(name))
EOF
"$PYTHON" manage.py migrate --noinput --verbosity 0
"$PYTHON" manage.py collectstatic --noinput --verbosity 0
say "Loading a small organization (seed_demo)"
"$PYTHON" manage.py seed_demo --org fuzz --name "Fuzz GmbH" --customers 20 \
    --months 2 --seed 7 >/dev/null
key="$("$PYTHON" manage.py create_api_key --org fuzz --name schemathesis \
    --role admin 2>/dev/null)"

port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$OUT"
say "Serving on 127.0.0.1:$port (gunicorn, log in $OUT/server.log)"
"$BIN/gunicorn" o2c.wsgi --bind "127.0.0.1:$port" --workers "${FUZZ_SERVER_WORKERS:-2}" \
    --timeout 120 --limit-request-line 0 >"$OUT/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 60); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.5
done

say "schemathesis: $PHASES, $MAX_EXAMPLES cases per operation, at most ${MAX_TIME}s"
started=$(date +%s)
status=0
"$BIN/schemathesis" --config-file scripts/fuzz_api.toml run "http://127.0.0.1:$port/api/schema/" \
    --header "Authorization: Api-Key $key" \
    --checks "$CHECKS" \
    --phases "$PHASES" \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$MAX_TIME" \
    --workers "$WORKERS" \
    --seed "${FUZZ_SEED:-42}" \
    --request-timeout 60 \
    --suppress-health-check all \
    --report junit,pytest --report-dir "$OUT" \
    "$@" || status=$?
say "schemathesis finished in $(($(date +%s) - started))s with status $status"
exit "$status"
