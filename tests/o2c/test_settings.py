"""Deployment settings: production is safe by default and fails closed when unset.

The production checks run ``manage.py`` in a subprocess, as a container would, with an
environment built here so the developer's own variables cannot leak in.
"""

import importlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from o2c.queues import WORKER_GROUPS

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "o2c.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "o2c.example.com",
    "DATABASE_URL": "sqlite:////tmp/o2c-settings-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    # Given explicitly so that a developer's .env cannot weaken them for the test.
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": str(60 * 60 * 24 * 365),
}
REQUIRED_IN_PRODUCTION = ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"]


def _dotenv() -> dict[str, str]:
    """Variables the checkout's .env (read by the base settings) would supply."""
    path = BASE_DIR / ".env"
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    base_env = {key: value for key, value in os.environ.items() if key in keep}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base_env, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_settings_pass_every_deploy_check():
    """Security settings, models, URLs and the OpenAPI schema, warnings included."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_on_postgresql_keeps_the_tenant_setting_and_the_app_role():
    """Production builds its own DATABASES: it still uses the backend that sets
    the tenant for row-level security, and switches to DATABASE_APP_ROLE."""
    env = PRODUCTION_ENV | {
        "DATABASE_URL": "postgres://o2c_web:secret@db.example:5432/o2c",
        "DATABASE_APP_ROLE": "o2c_app",
    }
    code = (
        "import json; from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(json.dumps([db['ENGINE'], db['OPTIONS'].get('assume_role')]))"
    )
    result = _manage("shell", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    *_, printed = result.stdout.strip().splitlines()
    assert json.loads(printed) == ["o2c.db.postgresql", "o2c_app"]


@pytest.mark.parametrize("variable", REQUIRED_IN_PRODUCTION)
def test_production_refuses_to_start_without_a_required_variable(variable):
    if _dotenv().get(variable):
        pytest.skip(f"the checkout's .env sets {variable}")
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != variable}

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]


def test_production_serves_health_over_http_and_redirects_pages_to_https(
    client, db, settings, monkeypatch
):
    """The container health probe speaks plain HTTP behind the TLS proxy."""
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("o2c.settings.production", None)
    production = importlib.import_module("o2c.settings.production")
    for name in (
        "SECURE_SSL_REDIRECT",
        "SECURE_REDIRECT_EXEMPT",
        "SECURE_PROXY_SSL_HEADER",
    ):
        setattr(settings, name, getattr(production, name))

    health = client.get("/healthz")
    login = client.get("/login/")
    login_over_tls = client.get("/login/", headers={"X-Forwarded-Proto": "https"})

    assert health.status_code == 200
    assert login.status_code == 301
    assert login["Location"] == "https://testserver/login/"
    assert login_over_tls.status_code == 200


def test_static_files_collect_under_hashed_names(settings, tmp_path):
    """Production stores static files under hashed names (whitenoise's
    CompressedManifestStaticFilesStorage is Django's manifest storage plus
    compression). A CSS url() or JS sourceMappingURL naming a file that is not there
    fails collectstatic, and with it the web container's start."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
        },
    }

    call_command("collectstatic", "--noinput", verbosity=0)

    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    ours = {
        path.relative_to(BASE_DIR / "static").as_posix()
        for path in (BASE_DIR / "static").rglob("*")
        if path.is_file()
    }
    assert ours, "static/ is empty"
    assert ours <= manifest.keys()


def _settings_variables() -> set[str]:
    pattern = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
    return {
        name
        for path in (BASE_DIR / "o2c" / "settings").glob("*.py")
        for name in pattern.findall(path.read_text())
    }


def test_env_example_documents_every_variable_the_settings_read():
    example = (BASE_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))

    read = _settings_variables()

    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_HOST"} <= read
    assert read - documented == set()


def test_compose_defines_the_django_service_once_for_web_workers_and_beat():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    django_services = [services[name] for name in ("web", "beat", *WORKER_GROUPS)]

    for key in ("build", "image", "environment", "env_file", "volumes"):
        assert len({json.dumps(s[key], sort_keys=True) for s in django_services}) == 1
    assert services["web"]["environment"]["DJANGO_SETTINGS_MODULE"] == (
        "o2c.settings.production"
    )
    for name in WORKER_GROUPS:
        assert services[name]["command"][:4] == ["celery", "-A", "o2c", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "o2c", "beat"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert {"postgres", "redis"} <= services["web"]["depends_on"].keys()
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"]


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) or a standalone `docker-compose` of v2 or later."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        version = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True
        )
        major = version.stdout.strip().lstrip("v").split(".")[0]
        if version.returncode == 0 and major.isdigit() and int(major) >= 2:
            return command
    return None


def test_docker_compose_parses_the_compose_file(tmp_path):
    command = _compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 client on this machine")
    # Validated without a .env, as on a fresh clone: every variable has a default.
    shutil.copy(BASE_DIR / "docker-compose.yml", tmp_path)
    shutil.copy(BASE_DIR / "Dockerfile", tmp_path)

    result = subprocess.run(
        [*command, "config", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
