"""Domain errors raised by services; the API and the web turn them into 4xx answers."""


class DomainError(Exception):
    """A business rule refused the request. ``field`` names the input at fault."""

    status_code = 400

    def __init__(self, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class ConflictError(DomainError):
    """The request is valid but the object is in a state that does not allow it."""

    status_code = 409


class TenantNotSet(RuntimeError):
    """Tenant rows were read or written with no organization in context."""


class ForeignObject(DomainError):
    """An id that does not exist in the caller's organization (answers 404)."""

    status_code = 404
