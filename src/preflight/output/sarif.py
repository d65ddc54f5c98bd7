"""The SARIF 2.1.0 report, for code-scanning tools (GitHub code scanning, Azure DevOps, VS Code)."""

from __future__ import annotations

import json
from pathlib import Path

from preflight.model import Finding
from preflight.registry import DEFECT_CLASSES, all_checks
from preflight.runner import Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
VERSION = "0.1.0"


def _line_of(path: Path, finding: Finding) -> int | None:
    """The line where the finding's resource block starts (cdk.tf.json is written one key per line)."""
    if not finding.resource or finding.resource.startswith("terraform."):
        return None
    name = finding.resource.rsplit(".", 1)[-1]
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if f'"{name}"' in line:
                return number
    except OSError:
        return None
    return None


def render(report: Report) -> str:
    """A SARIF log with one run: every registered check as a rule, every finding as a result."""
    checks = all_checks()
    index = {check.id: position for position, check in enumerate(checks)}
    rules = [
        {
            "id": check.id,
            "name": "".join(word.capitalize() for word in check.title.replace("/", " ").split())[:100],
            "shortDescription": {"text": check.title},
            "fullDescription": {"text": check.rationale},
            "help": {"text": f"Fix: {check.fix}"},
            "defaultConfiguration": {"level": str(check.severity)},
            "properties": {
                "defect_class": check.defect_class,
                "defect_class_title": DEFECT_CLASSES[check.defect_class],
                "seed_defects": list(check.seed_defects),
                "tags": ["terraform", "aws", "security" if check.defect_class in (2, 3, 5, 7) else "correctness"],
            },
        }
        for check in checks
    ]
    rules.append(
        {
            "id": "PF000",
            "name": "PreflightSuppression",
            "shortDescription": {"text": "A resource silences a check without a reason, or an unknown check"},
            "defaultConfiguration": {"level": "error"},
        }
    )
    results = []
    lines: dict[tuple[str, str], int | None] = {}
    for finding in report.findings:
        key = (finding.file, finding.resource)
        if key not in lines:
            lines[key] = _line_of(Path(finding.file), finding)
        physical: dict[str, object] = {"artifactLocation": {"uri": Path(finding.file).as_posix()}}
        if lines[key]:
            physical["region"] = {"startLine": lines[key]}
        result: dict[str, object] = {
            "ruleId": finding.check_id,
            "level": str(finding.severity),
            "message": {"text": f"{finding.resource}: {finding.message}. Fix: {finding.fix}"},
            "locations": [
                {
                    "physicalLocation": physical,
                    "logicalLocations": [{"fullyQualifiedName": finding.resource, "kind": "resource"}],
                }
            ],
            "properties": {"resource": finding.resource, "attribute": finding.attribute, "fix": finding.fix},
        }
        if finding.check_id in index:
            result["ruleIndex"] = index[finding.check_id]
        results.append(result)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "preflight",
                        "fullName": "payment platform preflight checker",
                        "version": VERSION,
                        "rules": rules,
                    }
                },
                "artifacts": [{"location": {"uri": c.path.as_posix()}} for c in report.configurations],
                "results": results,
                "columnKind": "utf16CodeUnits",
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
