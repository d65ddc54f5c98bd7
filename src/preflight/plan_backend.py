"""The state backend of a planned project, as ``terraform init`` recorded it beside the plan.

A plan JSON holds no backend block, so one state bucket or lock table for every deployment is invisible
in it. ``terraform init`` records the backend it configured, every ``-backend-config`` merged
in, in the working directory's ``.terraform/terraform.tfstate`` (``$TF_DATA_DIR`` when set). When the plan
JSON is written in that directory, as ``terraform show -json p > plan.json`` there does, preflight reads the
backend from it and checks it as it checks a ``backend`` block in Terraform JSON.

Only names and protection flags are read: the same file holds whatever was passed at init, credentials
and endpoints included, and none of that may reach a report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: What the checks read of a backend (PF101 names, PF110 the state's place, PF706 encryption and locking).
READ = ("bucket", "key", "workspace_key_prefix", "dynamodb_table", "region", "encrypt", "use_lockfile")


def recorded_file(plan_file: Path) -> Path:
    """Where ``terraform init`` in the plan's folder records its backend."""
    data_dir = os.environ.get("TF_DATA_DIR")
    if data_dir:  # terraform resolves it from the directory it runs in: the plan's, here
        return plan_file.parent / data_dir / "terraform.tfstate"
    return plan_file.parent / ".terraform" / "terraform.tfstate"


def recorded_backend(plan_file: Path) -> dict[str, dict[str, Any]] | None:
    """``{"s3": {"bucket": …, "key": …, …}}`` as init recorded it, or None when there is no record to read
    (no init in that folder, a local state, an unreadable file)."""
    try:
        record = json.loads(recorded_file(plan_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    backend = record.get("backend") if isinstance(record, Mapping) else None
    if not isinstance(backend, Mapping) or not isinstance(backend.get("type"), str):
        return None
    config = backend.get("config")
    config = config if isinstance(config, Mapping) else {}
    return {backend["type"]: {name: config[name] for name in READ if config.get(name) is not None}}
