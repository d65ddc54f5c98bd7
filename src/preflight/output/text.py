"""The text report: findings grouped by file and resource, crashed checks, then a one-line summary."""

from __future__ import annotations

import textwrap
from itertools import groupby

from preflight.model import Severity
from preflight.runner import Report

#: SGR colours of each severity and of the verdict, used only when the caller asks for colour (a terminal).
SEVERITY_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.NOTE: "36"}
_RED, _GREEN = "31", "32"


def _paint(text: str, sgr: str, color: bool) -> str:
    return f"\033[{sgr}m{text}\033[0m" if color else text


def severity_label(severity: Severity, *, color: bool = False) -> str:
    """``ERROR  `` padded to seven columns, in the severity's colour when ``color``."""
    return _paint(f"{severity.upper():7}", SEVERITY_COLORS[severity], color)


def render(report: Report, *, color: bool = False, baselined: int | None = None) -> str:
    """A readable table grouped by resource, the checks that crashed, and a summary that counts suppressed
    and (with a baseline) baselined findings; severities and the verdict coloured when ``color``."""
    lines: list[str] = []
    for file, in_file in groupby(report.findings, key=lambda f: f.file):
        lines.append(f"{file}")
        for resource, findings in groupby(in_file, key=lambda f: f.resource):
            lines.append(f"  {resource}")
            for finding in findings:
                where = f" [{finding.attribute}]" if finding.attribute else ""
                label = severity_label(finding.severity, color=color)
                lines.append(f"    {label} {finding.check_id}{where} {finding.message}")
                lines.extend(
                    textwrap.wrap(f"fix: {finding.fix}", width=110, initial_indent=" " * 12, subsequent_indent=" " * 17)
                )
        lines.append("")
    if report.crashes:
        lines.append(_paint("checks that crashed (a bug in preflight; what they would find is missing):", _RED, color))
        lines.extend(f"  {crash.check_id} on {crash.file}: {crash.error}" for crash in report.crashes)
        lines.append("")
    files = len(report.configurations)
    if report.crashes:
        verdict = _paint("INCOMPLETE", _RED, color) + f" ({len(report.crashes)} check run(s) crashed)"
    else:
        verdict = _paint("FAILED", _RED, color) if report.errors else _paint("passed", _GREEN, color)
    accepted = f", {len(report.suppressed)} suppressed"
    if baselined is not None:
        accepted += f", {baselined} baselined"
    lines.append(
        f"preflight {verdict}: {report.errors} error(s), {report.warnings} warning(s){accepted} in {files} file(s), "
        f"{report.resources} resources, {report.seconds * 1000:.0f} ms"
    )
    return "\n".join(lines) + "\n"
