"""Errors the API answers with, each carrying its HTTP status and a stable machine-readable code.

Every error response is ``{"error": {"code", "message", "field"?}}``; clients branch on ``code``.
Messages never echo request values: a rejected value may be a card number.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the client as JSON with ``status`` and ``code``."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class BadRequest(ApiError):
    """400: the request cannot be read (malformed JSON, missing or bad header)."""

    status = 400
    code = "bad_request"


class ValidationFailed(ApiError):
    """422: the request is readable but a field is invalid."""

    status = 422
    code = "validation_error"


class NotFound(ApiError):
    """404: no such payment or route."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """405: the route exists but not with this method."""

    status = 405
    code = "method_not_allowed"


class IdempotencyKeyInUse(ApiError):
    """409: another request with the same key is still being processed."""

    status = 409
    code = "idempotency_key_in_use"


class IdempotencyKeyReused(ApiError):
    """422: the key was used before with a different request body."""

    status = 422
    code = "idempotency_key_reused"


class PayloadTooLarge(ApiError):
    """413: the body is over the limit."""

    status = 413
    code = "payload_too_large"


class ServiceUnavailable(ApiError):
    """503: a dependency (the database) cannot be reached; the client should retry later."""

    status = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 5, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after_s)})


class InternalError(ApiError):
    """500: a bug. The body says nothing about it; the log has the details."""

    status = 500
    code = "internal_error"


class AuthenticationRequired(ApiError):
    """401: the request carries no credentials the API accepts."""

    status = 401
    code = "authentication_required"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class InsufficientPermissions(ApiError):
    """403: the key is valid but may not do this (a read-only key on a write)."""

    status = 403
    code = "insufficient_permissions"


class CardNumberRefused(ValidationFailed):
    """422: a raw card number (PAN) was found in the request; nothing else is done with the request."""

    code = "card_number_refused"

    def __init__(self, *, field: str | None) -> None:
        super().__init__(
            "raw card numbers are not accepted in any field or header: tokenize the card with your "
            "payment provider and send the token (for example tok_visa) as payment_method",
            field=field,
        )


class InvalidCharacter(ValidationFailed):
    """422: a string holds a character the database cannot store (NUL, or an unpaired surrogate)."""

    code = "invalid_character"

    def __init__(self, *, field: str | None) -> None:
        super().__init__(
            "text must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates (\\ud800-\\udfff)",
            field=field,
        )
