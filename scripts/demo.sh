#!/usr/bin/env bash
# One-command demo (`make demo`): migrate, load the demo organization, then run the web
# app, a Celery worker, beat and a local mail sink in the foreground until Ctrl-C.
#
# With no DATABASE_URL and no REDIS_URL (the embedded defaults) everything lives in
# var/: SQLite in var/o2c.sqlite3 and the Celery queue in var/celery/ (kombu's
# filesystem transport), so nothing but the Python packages is needed. Running it again
# reuses var/ (seed_demo is a no-op when the demo organization exists); `rm -rf var`
# starts over.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
PYTHON="${PYTHON:-.venv/bin/python}"
CELERY="${CELERY:-.venv/bin/celery}"
APP_URL="http://127.0.0.1:${PORT}"
DEMO_ADMIN="admin@demo.o2c"
DEMO_PASSWORD="demo-password-1"
SMTP_PORT="${DEMO_SMTP_PORT:-1025}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-o2c.settings.dev}"
# The demo's admin signs in with the printed password alone: a second factor's secret
# printed here would be as public as the password. Set O2C_REQUIRE_ADMIN_2FA=true to
# try the requirement (README "Sign-in security"); anyone may set up 2FA on Security.
export O2C_REQUIRE_ADMIN_2FA="${O2C_REQUIRE_ADMIN_2FA:-false}"
# Mail from the demo (invoices, dunning notices) goes to a local sink, never to an
# SMTP server a .env may name: these real variables win over .env.
export EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend EMAIL_HOST=127.0.0.1 \
    EMAIL_PORT="$SMTP_PORT" EMAIL_USE_TLS=false EMAIL_HOST_USER= EMAIL_HOST_PASSWORD=

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ -n "${DATABASE_URL:-}" ] || [ -n "${REDIS_URL:-}" ]; then
    say "DATABASE_URL/REDIS_URL are set: the demo uses them instead of var/"
fi
mkdir -p var/media var/mail/cur var/mail/new var/mail/tmp var/celery/queue \
    var/celery/processed

say "Applying migrations"
"$PYTHON" manage.py migrate --noinput

# With DEBUG (the dev default) static files are served from static/ directly; the
# collected copy lets the demo run with DEBUG=false too, through whitenoise.
say "Collecting static files (var/staticfiles)"
"$PYTHON" manage.py collectstatic --noinput --verbosity 0

if "$PYTHON" manage.py help seed_demo >/dev/null 2>&1; then
    say "Loading demo data (kept as it is when the demo organization exists)"
    "$PYTHON" manage.py seed_demo
else
    echo "demo: this checkout has no seed_demo command, so there is no demo" \
        "organization to sign in to. Create an empty one with:" >&2
    echo "  $PYTHON manage.py create_org 'Demo Co' --slug demo" \
        "--admin-email $DEMO_ADMIN --admin-password $DEMO_PASSWORD" >&2
fi

pids=()
stopping=0
stop_all() {
    [ "$stopping" = 1 ] && return
    stopping=1
    [ "${#pids[@]}" = 0 ] && return
    # Signal first, print second: the terminal may already be gone.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    printf '\n' && say "Stopping the demo's processes" || true
    # Celery finishes the task in hand on TERM; give it a moment, then insist.
    for _ in $(seq 20); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.5
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# Sleep in the background and `wait` for it, so that Ctrl-C's trap runs at once.
pause() {
    sleep "$1" &
    wait "$!"
}

# Each process's lines get a prefix; `$!` stays the process itself, not the filter.
# The filter ignores Ctrl-C so that it still prints the process's last words.
start() {
    local name="$1"
    shift
    "$@" > >(trap '' INT && exec awk -v p="[$name] " '{ print p $0; fflush() }') 2>&1 &
    pids+=("$!")
}

smtp_listening() {
    "$PYTHON" -c 'import socket, sys; socket.create_connection(sys.argv[1:], 1)' \
        127.0.0.1 "$SMTP_PORT" 2>/dev/null
}
if smtp_listening; then
    mail="sent to the SMTP server already on 127.0.0.1:${SMTP_PORT}"
else
    mail="kept in var/mail (a Maildir; SMTP sink on 127.0.0.1:${SMTP_PORT})"
    start mail "$PYTHON" -m aiosmtpd --nosetuid --listen "127.0.0.1:${SMTP_PORT}" \
        --class aiosmtpd.handlers.Mailbox var/mail
fi

say "Starting web (${APP_URL}), Celery worker and beat"
start web "$PYTHON" manage.py runserver "127.0.0.1:${PORT}" --noreload
# The filesystem transport is meant for one consumer: one worker, solo pool, taking
# every queue (o2c/queues.py; in production each group has its own workers).
QUEUES="dunning,sending,imports,exports,reports,webhooks,default"
start worker "$CELERY" -A o2c worker --loglevel=info --pool=solo --hostname "demo@%h" \
    --queues "$QUEUES"
start beat "$CELERY" -A o2c beat --loglevel=info --schedule var/celerybeat-schedule

healthy=0
for _ in $(seq 60); do
    if "$PYTHON" -c '
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
' "$APP_URL/healthz" 2>/dev/null; then
        healthy=1
        break
    fi
    pause 1
done
if [ "$healthy" = 0 ]; then
    echo "demo: ${APP_URL}/healthz did not report healthy within a minute;" \
        "see the log above." >&2
    exit 1
fi

# A broadcast through the broker shows the worker consumes from the queue.
worker="not answering yet: see the [worker] lines above"
for _ in $(seq 5); do
    if "$CELERY" -A o2c inspect ping --timeout 3 >/dev/null 2>&1; then
        worker="answering through the broker"
        break
    fi
    pause 1
done

cat <<EOF

  O2C demo is running.

    App        ${APP_URL}/
    Sign in    ${DEMO_ADMIN} / ${DEMO_PASSWORD}
    2FA        required for admins: ${O2C_REQUIRE_ADMIN_2FA} (set it up under Security)
    API docs   ${APP_URL}/api/docs/   (OpenAPI schema: ${APP_URL}/api/schema/)
    Health     ${APP_URL}/healthz
    Worker     ${worker}
    Mail       ${mail}

EOF
"$PYTHON" manage.py shell --no-imports -c "
from demo.data import PASSWORD
from o2c.models import Membership

members = (
    Membership.objects.filter(organization__memberships__user__username='$DEMO_ADMIN')
    .select_related('user', 'organization')
    .order_by('role', 'user__username')
)
if members:
    print(f'  Users of {members[0].organization.name} (password for all: {PASSWORD}):')
for membership in members:
    print(f'    {membership.user.username:34} {membership.role}')
" 2>/dev/null || true
cat <<EOF

  Press Ctrl-C to stop.

EOF

# Whichever process ends first brings the others down (polling rather than
# `wait -n`, which macOS's bash 3.2 lacks).
set +e
while :; do
    for pid in "${pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            status=$?
            echo "demo: a process exited (status ${status}); stopping the others." >&2
            exit $((status == 0 ? 1 : status))
        fi
    done
    pause 1
done
