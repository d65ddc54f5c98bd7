"""The deployment's admin function as both targets see it: its answer, or the error it gave."""

from __future__ import annotations

from typing import Any

from payments_cli.commands import EXIT_USAGE
from payments_cli.errors import PaymentsError


class AdminCallFailed(PaymentsError):
    """The admin function answered an error (``code`` is its machine-readable code), or did not answer."""

    def __init__(self, message: str, code: str = "failed") -> None:
        # A request the function refused as invalid is the caller's to fix: bad usage (2), not a failed job (1).
        super().__init__(message, exit_code=EXIT_USAGE if code == "invalid_request" else None)
        self.code = code


def admin_answer(name: str, result: Any, error: Any) -> dict[str, Any]:
    """The admin function's answer, or AdminCallFailed with its message (the same for both targets)."""
    if error is not None:
        detail = error.get("errorMessage") if isinstance(error, dict) else error
        raise AdminCallFailed(f"the admin function {name} failed: {detail}")
    if not isinstance(result, dict) or not result.get("ok"):
        problem = (result or {}).get("error", {}) if isinstance(result, dict) else {}
        code = str(problem.get("code", "failed"))
        raise AdminCallFailed(f"{problem.get('message', 'no answer')} ({code}, from {name})", code)
    return result
