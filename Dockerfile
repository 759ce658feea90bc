# One image for the web app, the Celery worker and beat (see docker-compose.yml).
# Bookworm pins the Debian release whose package names are listed below.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=o2c.settings.production

# WeasyPrint renders invoice and statement PDFs through Pango (with HarfBuzz for font
# subsetting); DejaVu gives it fonts with wide Unicode coverage. gettext's msgfmt
# compiles the interface's translations (locale/*/LC_MESSAGES/django.po) below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core gettext \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 o2c \
    && useradd --system --uid 10001 --gid o2c --create-home --home-dir /home/o2c o2c

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. pyproject.toml lists
# no importable packages: installing "." installs the dependencies only.
COPY pyproject.toml ./
RUN pip install .

# The code stays root-owned and read-only for the app user; only var/ is writable:
# collected static files, media (uploads, exports) and beat's schedule.
COPY . .
# The .mo files are build output (not in git): compiled here with the base settings,
# which need no production secrets.
RUN DJANGO_SETTINGS_MODULE=o2c.settings.base python manage.py compilemessages \
        --ignore=var --verbosity 0 \
    && rm -rf var
RUN mkdir -p var/staticfiles var/media && chown -R o2c:o2c var

USER o2c
EXPOSE 8000
CMD ["scripts/docker-web.sh"]
