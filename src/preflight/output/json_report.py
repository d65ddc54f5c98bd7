"""The JSON report: a list of findings ``{check_id, severity, resource, attribute, message, fix, file}``."""

from __future__ import annotations

import json

from preflight.runner import Report


def render(report: Report) -> str:
    """The findings as a JSON array."""
    return json.dumps([finding.as_dict() for finding in report.findings], indent=2) + "\n"
