"""API rate limits per key and per user, counted in Redis: 429 with Retry-After."""

import os
import uuid

import pytest
from django.test import override_settings

from o2c.models import Role
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("REDIS_URL")


@pytest.fixture
def redis_counts():
    if not REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    limits = {"api_key": "3/m", "user": "2/m"}
    with override_settings(CACHES={"default": cache}, API_RATE_LIMITS=limits):
        yield


def test_an_api_key_over_its_limit_gets_429_with_retry_after(org, redis_counts):
    api = api_client_for(org, Role.FINANCE)
    statuses = [api.get("/api/v1/customers/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get("/api/v1/customers/")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "throttled"
    # Another key of the same organization has its own count.
    other = api_client_for(org, Role.FINANCE)
    assert other.get("/api/v1/customers/").status_code == 200


def test_a_signed_in_user_is_limited_per_user(org, client, redis_counts):
    from tests.factories import member

    user = member(org, Role.FINANCE)
    client.force_login(user)
    statuses = [client.get("/api/v1/customers/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_without_redis_the_limit_still_holds_per_process(org):
    with override_settings(API_RATE_LIMITS={"api_key": "1/m", "user": "1/m"}):
        api = api_client_for(org, Role.FINANCE)
        assert api.get("/api/v1/customers/").status_code == 200
        assert api.get("/api/v1/customers/").status_code == 429
