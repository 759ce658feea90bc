"""``Idempotency-Key`` on POST.

The first request with a key stores its response; the same key with the same body
replays that response (header ``Idempotent-Replayed: true``) without doing the work
again; the same key with a different body answers 422. The key is claimed in the
request's own transaction, so a request that fails leaves no claim behind and two
concurrent requests with one key serialize on the unique index: the second replays
the first's answer. Keys are per organization and kept for 24 hours
(``KEY_LIFETIME``): a key seen again later is a new request, and beat's hourly
``o2c.expire_idempotency_keys`` deletes the expired records.
"""

import hashlib
import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from o2c.api.errors import ReplayResponse
from o2c.errors import DomainError
from o2c.models import IdempotencyRecord
from o2c.tenancy import all_tenants, current_organization

HEADER = "HTTP_IDEMPOTENCY_KEY"


class KeyReused(DomainError):
    status_code = 422


MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)


def request_key(request) -> str | None:
    key = request.META.get(HEADER)
    if key is None or request.method != "POST":
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
            field="Idempotency-Key",
        )
    return key


def fingerprint(request) -> str:
    """A hash of what the request asks for: method, path and body.

    JSON bodies are compared by content (key order does not matter). Multipart
    uploads are compared by their fields and the SHA-256 of each file, read in
    chunks, so a large upload never has to fit in memory.
    """
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode()):
        digest.update(part + b"\0")
    if request.content_type.startswith("multipart/"):
        fields = {key: request.data.getlist(key) for key in request.data}
        files = {name: _file_digest(upload) for name, upload in request.FILES.items()}
        digest.update(json.dumps([fields, files], sort_keys=True, default=str).encode())
        return digest.hexdigest()
    body = request._request.body
    try:
        digest.update(json.dumps(json.loads(body or b"null"), sort_keys=True).encode())
    except (ValueError, RecursionError):
        # Not JSON (or nested too deeply to decode): the parser refuses it later.
        digest.update(body)
    return digest.hexdigest()


def _file_digest(upload) -> str:
    file_digest = hashlib.sha256()
    for chunk in upload.chunks():
        file_digest.update(chunk)
    upload.seek(0)
    return file_digest.hexdigest()


def claim(request, key: str) -> IdempotencyRecord:
    """Claim ``key`` for this request, or raise the stored response to replay."""
    organization = current_organization()
    request_hash = fingerprint(request)
    IdempotencyRecord.objects.filter(key=key, created_at__lt=expired_before()).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                organization=organization,
                key=key,
                method=request.method,
                path=request.path,
                request_hash=request_hash,
                response_status=0,
            )
    except IntegrityError:
        existing = IdempotencyRecord.objects.get(key=key)
    if existing.request_hash != request_hash:
        raise KeyReused(
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request; use a new key.",
            field="Idempotency-Key",
        ) from None
    replay = Response(existing.response_body, status=existing.response_status)
    replay["Idempotent-Replayed"] = "true"
    raise ReplayResponse(replay)


def store(record: IdempotencyRecord, response) -> None:
    body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=response.status_code, response_body=body
    )


def expired_before():
    return timezone.now() - KEY_LIFETIME


def expire_keys() -> int:
    """Delete every organization's records older than ``KEY_LIFETIME``."""
    with all_tenants():
        deleted, _ = IdempotencyRecord.unscoped.filter(
            created_at__lt=expired_before()
        ).delete()
    return deleted
