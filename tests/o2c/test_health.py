"""/healthz: what compose, load balancers and `make demo` poll before sending work."""

import pytest
from django.db import OperationalError

from o2c import views


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok_without_signing_in(client):
    response = client.get("/healthz")

    # The broker is Redis when REDIS_URL is set (CI), else the filesystem transport.
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_database_when_it_is_unreachable(
    client, monkeypatch
):
    class UnreachableConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(views, "connection", UnreachableConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "error: OperationalError",
        "broker": "ok",
    }


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_broker_when_it_is_unreachable(
    client, monkeypatch
):
    def refuse():
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(views.celery_app, "connection_for_write", refuse)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"] == "ok"
    assert response.json()["broker"] == "error: ConnectionRefusedError"
