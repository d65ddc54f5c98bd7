"""The SARIF 2.1.0 report, for code-scanning tools (GitHub code scanning, Azure DevOps, VS Code).

Files are named relative to ``%SRCROOT%`` (the working directory, given in ``originalUriBaseIds``) so a log
written on a CI runner resolves in the repository that a viewer has checked out anywhere else. Suppressed
findings stay in the log as results with ``suppressions`` (viewers show them as dismissed, with the reason),
and a check that crashed is a ``toolExecutionNotifications`` entry of an unsuccessful invocation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from preflight.model import CheckCrash, Finding
from preflight.output import tool_version
from preflight.plan import planned_address
from preflight.positions import Pointer, SourceMap
from preflight.registry import DEFECT_CLASSES, all_checks
from preflight.runner import Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
#: First keys of a block pointer in Terraform's JSON syntax (not a plan's planned_values).
_SYNTAX_ROOTS = {("resource",), ("data",), ("terraform",)}


def artifact_location(file: str) -> dict[str, str]:
    """A file relative to ``%SRCROOT%`` when it is under the working directory, else its absolute file URI."""
    path = Path(os.path.abspath(file))  # abspath, not resolve: "../x" is normalised, symlinks stay as named
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return {"uri": path.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}


def _srcroot() -> str:
    uri = Path.cwd().as_uri()
    return uri if uri.endswith("/") else uri + "/"  # SARIF requires a base URI to end with a slash


class _Locator:
    """Regions of findings: the JSON location of the resource block (or of the finding's attribute inside it,
    when it is there), found in a parse of the file that keeps positions."""

    def __init__(self, report: Report) -> None:
        self._blocks = {
            (str(configuration.path), planned_address(resource) or resource.address): resource.pointer
            for configuration in report.configurations
            for resource in (*configuration.resources, *configuration.data_sources)
        }
        self._maps: dict[str, SourceMap | None] = {}

    def block(self, finding: Finding) -> Pointer:
        """The pointer of the finding's resource; () when it is not known."""
        pointer = self._blocks.get((finding.file, finding.resource), ())
        if not pointer and finding.resource.startswith("terraform."):
            pointer = tuple(finding.resource.split("."))  # terraform.backend.s3 names its own place
        return pointer

    def region(self, file: str, *candidates: Pointer) -> dict[str, int] | None:
        """The start of the first candidate pointer the file has (its key, where it has one)."""
        if file not in self._maps:
            self._maps[file] = SourceMap.of_file(Path(file))
        source = self._maps[file]
        for pointer in candidates:
            located = source.locate(pointer) if source is not None and pointer else None
            if located is not None:
                start = located.key or located.value
                return {"startLine": start.line, "startColumn": start.column}
        return None


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
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
                "prevents": list(check.prevents),
                "tags": ["terraform", "aws", "security" if check.defect_class in (2, 3, 5, 7) else "correctness"],
            },
        }
        for check in all_checks()
    ]
    rules.append(
        {
            "id": "PF000",
            "name": "PreflightSuppression",
            "shortDescription": {"text": "A resource silences a check without a reason, or an unknown check"},
            "defaultConfiguration": {"level": "error"},
        }
    )
    return rules


def _result(finding: Finding, locator: _Locator, rule_index: dict[str, int]) -> dict[str, Any]:
    block = locator.block(finding)
    # Only a block of Terraform's JSON syntax holds the attributes as its own keys; a plan's resource object has
    # keys of its own ("name", "type") beside "values", so a finding on a plan points at the resource itself.
    attribute = tuple(finding.attribute.split(".")) if finding.attribute and block[:1] in _SYNTAX_ROOTS else ()
    physical: dict[str, Any] = {"artifactLocation": artifact_location(finding.file)}
    region = locator.region(finding.file, (*block, *attribute) if attribute else (), block)
    if region:
        physical["region"] = region
    where = finding.location or finding.resource
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "level": str(finding.severity),
        "message": {"text": f"{finding.resource}: {finding.message}. Fix: {finding.fix}"},
        "locations": [
            {"physicalLocation": physical, "logicalLocations": [{"fullyQualifiedName": where, "kind": "resource"}]}
        ],
        "properties": {
            "resource": finding.resource,
            "attribute": finding.attribute,
            "location": where,
            "fix": finding.fix,
        },
    }
    if finding.check_id in rule_index:
        result["ruleIndex"] = rule_index[finding.check_id]
    if finding.suppression is not None:
        suppression: dict[str, Any] = {"kind": "inSource", "justification": finding.suppression}
        silenced_at = locator.region(finding.file, (*block, "//", "preflight_skip", finding.check_id) if block else ())
        if silenced_at:
            suppression["location"] = {
                "physicalLocation": {"artifactLocation": artifact_location(finding.file), "region": silenced_at}
            }
        result["suppressions"] = [suppression]
    return result


def _crash(crash: CheckCrash, rule_index: dict[str, int], files: set[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": crash.check_id}
    if crash.check_id in rule_index:
        rule["index"] = rule_index[crash.check_id]
    notification: dict[str, Any] = {
        "level": "error",
        "message": {"text": f"check {crash.check_id} crashed on {crash.file}: {crash.error}"},
        "associatedRule": rule,
    }
    # A check across stacks crashes on all of them at once ("a.json, b.json"): no one file to point at.
    if crash.file in files:
        notification["locations"] = [{"physicalLocation": {"artifactLocation": artifact_location(crash.file)}}]
    return notification


def render(report: Report, *, baselined: int | None = None) -> str:
    """A SARIF log with one run: every registered check as a rule, every finding (suppressed ones included)
    as a result, every crashed check as a notification; ``baselined`` findings were left out by the caller
    and are only counted, in the run's properties."""
    rules = _rules()
    rule_index = {rule["id"]: position for position, rule in enumerate(rules) if rule["id"] != "PF000"}
    locator = _Locator(report)
    files = {str(configuration.path) for configuration in report.configurations}
    results = [_result(finding, locator, rule_index) for finding in (*report.findings, *report.suppressed)]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "preflight",
                "fullName": "payment platform preflight checker",
                "version": tool_version(),
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": not report.crashes,
                "toolExecutionNotifications": [_crash(crash, rule_index, files) for crash in report.crashes],
            }
        ],
        "originalUriBaseIds": {SRCROOT: {"uri": _srcroot()}},
        "artifacts": [{"location": artifact_location(str(c.path))} for c in report.configurations],
        "results": results,
        "columnKind": "utf16CodeUnits",
    }
    if baselined is not None:
        run["properties"] = {"baselined": baselined}
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"
