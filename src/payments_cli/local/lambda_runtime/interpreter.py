"""Find a CPython matching the Lambda function's runtime, to execute the built zip locally."""

from __future__ import annotations

from pathlib import Path

from payments_cli.errors import PaymentsError


class RuntimeNotFound(PaymentsError):
    """No interpreter for the function's runtime is installed."""


def find_python(version: str = "3.12") -> Path:
    """A real CPython ``version`` binary: the same lookup the build compiles the package's bytecode with
    (``payments_infra.lambda_build.find_lambda_python``), its failure as this command's error."""
    from payments_infra.lambda_build import PythonNotFound, find_lambda_python

    try:
        return find_lambda_python(version)
    except PythonNotFound as exc:
        raise RuntimeNotFound(str(exc)) from None
