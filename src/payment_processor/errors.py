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


class StillProcessing(ServiceUnavailable):
    """503: the operation is recorded but the acquirer has not answered yet; the same key finishes it."""

    #: Seconds a client is told to wait before retrying.
    RETRY_AFTER_S = 2

    def __init__(self, what: str, *, code: str = "payment_processing") -> None:
        super().__init__(
            f"{what} is recorded and still processing (the acquirer has not answered yet); "
            "retry with the same Idempotency-Key to get its result",
            code=code,
            retry_after_s=self.RETRY_AFTER_S,
        )


class DatabaseUnavailable(ServiceUnavailable):
    """503: the payment database is unreachable (the detail goes to the log, never to the client)."""

    def __init__(self) -> None:
        super().__init__(
            "the payment database is unreachable; retry with the same Idempotency-Key", code="database_unavailable"
        )


class PaymentStateConflict(ApiError):
    """409: the payment is not in a state this operation applies to; ``payment_status`` says which it is in."""

    status = 409
    code = "payment_state_conflict"

    def __init__(self, message: str, *, payment_status: str) -> None:
        super().__init__(message)
        self.payment_status = payment_status

    def body(self) -> dict[str, Any]:
        """The error envelope plus the payment's current status."""
        body = super().body()
        body["error"]["payment_status"] = self.payment_status
        return body


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
