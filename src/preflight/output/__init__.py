"""Reports of a check run: ``text`` for people, ``json`` for scripts, ``sarif`` for code scanning."""

from __future__ import annotations

from importlib import metadata

#: The distribution preflight ships in (pyproject.toml's ``[project] name``).
DISTRIBUTION = "payment-platform"


def tool_version() -> str:
    """The installed version, so a report says which preflight wrote it (never a number copied by hand)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
