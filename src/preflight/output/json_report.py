"""The JSON report, for scripts: which preflight read which files, counts by severity, then the findings.

``{"tool": "preflight", "version", "files", "counts": {"error", "warning", "note", "suppressed"}, "findings",
"suppressed", "crashes"}``; each finding is ``{check_id, severity, resource, attribute, message, fix, file,
location}`` (location: the construct path, or the resource address for plans), each suppressed one adds its
``reason``, each crash is ``{check_id, file, error}``. With a baseline, ``counts`` also has ``baselined``.
"""

from __future__ import annotations

import json
from typing import Any

from preflight.model import Finding, Severity
from preflight.output import tool_version
from preflight.runner import Report


def _finding(finding: Finding) -> dict[str, str]:
    return {**finding.as_dict(), "location": finding.location or finding.resource}


def render(report: Report, *, baselined: int | None = None) -> str:
    """The wrapped report as indented JSON."""
    counts = {str(severity): sum(1 for f in report.findings if f.severity is severity) for severity in Severity}
    counts["suppressed"] = len(report.suppressed)
    if baselined is not None:
        counts["baselined"] = baselined
    document: dict[str, Any] = {
        "tool": "preflight",
        "version": tool_version(),
        "files": [str(configuration.path) for configuration in report.configurations],
        "counts": counts,
        "findings": [_finding(finding) for finding in report.findings],
        "suppressed": [{**_finding(finding), "reason": finding.suppression} for finding in report.suppressed],
        "crashes": [{"check_id": c.check_id, "file": c.file, "error": c.error} for c in report.crashes],
    }
    return json.dumps(document, indent=2) + "\n"
