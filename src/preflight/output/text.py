"""The text report: findings grouped by file and resource, then a one-line summary."""

from __future__ import annotations

import textwrap
from itertools import groupby

from preflight.runner import Report


def render(report: Report) -> str:
    """A readable table grouped by resource."""
    lines: list[str] = []
    for file, in_file in groupby(report.findings, key=lambda f: f.file):
        lines.append(f"{file}")
        for resource, findings in groupby(in_file, key=lambda f: f.resource):
            lines.append(f"  {resource}")
            for finding in findings:
                where = f" [{finding.attribute}]" if finding.attribute else ""
                lines.append(f"    {finding.severity.upper():7} {finding.check_id}{where} {finding.message}")
                lines.extend(
                    textwrap.wrap(f"fix: {finding.fix}", width=110, initial_indent=" " * 12, subsequent_indent=" " * 17)
                )
        lines.append("")
    files = len(report.configurations)
    verdict = "FAILED" if report.errors else "passed"
    lines.append(
        f"preflight {verdict}: {report.errors} error(s), {report.warnings} warning(s) in {files} file(s), "
        f"{report.resources} resources, {report.seconds * 1000:.0f} ms"
    )
    return "\n".join(lines) + "\n"
