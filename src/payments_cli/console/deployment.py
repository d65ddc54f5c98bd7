"""What the console's deployment page shows: the environment's data, and, for a deployment this machine made,
its last deploy, its outputs, its resources by type, and what preflight says about the stack it applied.

Read from this machine alone (the environment data in payments_infra, the deployment's record and the stack
folder of its last run); nothing is asked of the deployment, so the page works while its database is down.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from payments_infra.environments import get_environment


def describe(environment: str, suffix: str, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The page's data. ``record``: the deployment's record on this machine (None: deployed from elsewhere, or
    not at all)."""
    config = _flattened(asdict(get_environment(environment)))
    described: dict[str, Any] = {"environment": environment, "suffix": suffix, "config": config, "record": None}
    if record is None:
        return described
    stacks = [Path(str(record[key])) / "cdk.tf.json" for key in ("stack_dir", "bootstrap_dir") if record.get(key)]
    stacks = [path for path in stacks if path.is_file()]
    kinds: Counter[str] = Counter()
    for path in stacks:
        for kind, items in json.loads(path.read_text()).get("resource", {}).items():
            kinds[kind] += len(items)
    deployed_at = record.get("deployed_at")
    described["record"] = {
        "deployed_at": None
        if not isinstance(deployed_at, int | float)
        else datetime.fromtimestamp(deployed_at, UTC).isoformat(timespec="seconds"),
        "outputs": {str(k): _shown(v) for k, v in sorted((record.get("outputs") or {}).items())},
        "resources": sorted(kinds.items()),
        "resource_count": sum(kinds.values()),
        "preflight": _preflight(stacks),
    }
    return described


def _preflight(stacks: list[Path]) -> dict[str, Any]:
    """``payments check`` on the stacks the last deploy applied: its counts and findings."""
    if not stacks:
        return {"checked": False, "why": "the stacks of the last deploy are no longer on this machine"}
    from preflight.runner import check_files

    report = check_files(stacks)
    return {
        "checked": True,
        "errors": report.errors,
        "warnings": report.warnings,
        "resources": report.resources,
        "findings": [
            {"check": f.check_id, "severity": f.severity.value, "resource": f.resource, "message": f.message}
            for f in report.findings
        ],
    }


def _flattened(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The environment's settings as the page lists them: an optional part (proxy, alarms, object lock) as its own
    ``part.setting`` rows, or ``off`` when the environment has none."""
    rows: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            rows.update(_flattened(value, f"{prefix}{name}."))
        else:
            rows[f"{prefix}{name}"] = "off" if value is None else _shown(value)
    return rows


def _shown(value: Any) -> str:
    """A value as the page prints it (lists joined, the rest as text)."""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
