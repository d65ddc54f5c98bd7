"""A baseline: findings a team has accepted for now, each with its reason, so that a check run reports only
the findings that are new (``payments check --baseline FILE``; ``--write-baseline FILE`` records today's).

An entry is matched by its fingerprint: check id, file, resource address and attribute, never the line or
the message, which change when unrelated code moves or a message is reworded. The file is stored relative
to the baseline's own folder ('/'-separated), not to the working directory and not by its basename: the
baseline then matches from any directory and on any machine with the same layout, and two stacks that both
have an ``aws_s3_bucket.logs`` (every cdk.tf.json has that basename) are not confused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.model import Finding, UnusableInput
from preflight.registry import MIN_REASON_LENGTH
from preflight.runner import Report

#: The version of the file's layout, so a later layout is refused rather than misread.
FORMAT = 1
_FIELDS = ("check_id", "file", "resource", "attribute", "reason")

Fingerprint = tuple[str, str, str, str]


class InvalidBaseline(UnusableInput):
    """A baseline that cannot be read, or a baseline that cannot be written as asked: exit 2, nothing written."""


@dataclass(frozen=True, order=True)
class Entry:
    """One accepted finding."""

    check_id: str
    file: str  # relative to the baseline's folder
    resource: str
    attribute: str
    reason: str
    message: str = ""  # what was accepted, for the reviewer of the file; not part of the fingerprint

    @property
    def fingerprint(self) -> Fingerprint:
        """What a finding must share to be this entry."""
        return (self.check_id, self.file, self.resource, self.attribute)


@dataclass(frozen=True)
class Baseline:
    """The entries of one baseline file."""

    path: Path
    entries: tuple[Entry, ...]

    def fingerprint(self, finding: Finding) -> Fingerprint:
        """The finding's fingerprint, its file made relative to this baseline's folder."""
        relative = os.path.relpath(os.path.abspath(finding.file), os.path.abspath(self.path.parent))
        return (finding.check_id, Path(relative).as_posix(), finding.resource, finding.attribute)

    def apply(self, report: Report) -> tuple[Report, int]:
        """The report without the findings this baseline accepts, and how many those were."""
        accepted = {entry.fingerprint for entry in self.entries}
        new = tuple(f for f in report.findings if self.fingerprint(f) not in accepted)
        return dataclasses.replace(report, findings=new), len(report.findings) - len(new)


def read(path: Path) -> Baseline:
    """The baseline at ``path``; InvalidBaseline, saying what is wrong, for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidBaseline(f"baseline {path}: no such file (write one with --write-baseline)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidBaseline(f"baseline {path}: cannot read it ({error})") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as error:
        raise InvalidBaseline(f"baseline {path}: not JSON ({error})") from None
    if not isinstance(document, dict) or document.get("tool") != "preflight" or document.get("format") != FORMAT:
        raise InvalidBaseline(
            f'baseline {path}: not a preflight baseline of format {FORMAT} (expected {{"tool": "preflight", '
            f'"format": {FORMAT}, "entries": [...]}})'
        )
    items = document.get("entries")
    if not isinstance(items, list):
        raise InvalidBaseline(f"baseline {path}: 'entries' must be a list")
    return Baseline(path, tuple(_entry(path, number, item) for number, item in enumerate(items, start=1)))


def _entry(path: Path, number: int, item: Any) -> Entry:
    if not isinstance(item, dict) or not all(isinstance(item.get(key), str) for key in _FIELDS):
        raise InvalidBaseline(f"baseline {path}: entry {number} must be an object with string {', '.join(_FIELDS)}")
    if len(item["reason"].strip()) < MIN_REASON_LENGTH:
        raise InvalidBaseline(
            f"baseline {path}: entry {number} ({item['check_id']} on {item['resource']}) has no reason: say why "
            f"the finding is accepted, in at least {MIN_REASON_LENGTH} characters"
        )
    message = item.get("message", "")
    check_id, file, resource, attribute, reason = (item[key] for key in _FIELDS)
    return Entry(check_id, file, resource, attribute, reason, message if isinstance(message, str) else "")


def write(path: Path, findings: Iterable[Finding], reason: str | None) -> Baseline:
    """Record ``findings`` at ``path``, atomically. An entry already in the file keeps its reason; every new
    one gets ``reason``, which is then required. InvalidBaseline, with nothing written, when a reason is
    missing or too short, or an existing file is not a valid baseline (it is never silently replaced)."""
    if reason is not None and len(reason.strip()) < MIN_REASON_LENGTH:
        raise InvalidBaseline(
            f"--reason must say why the findings are accepted, in at least {MIN_REASON_LENGTH} characters"
        )
    kept = {entry.fingerprint: entry.reason for entry in read(path).entries} if path.exists() else {}
    target = Baseline(path, ())
    entries: dict[Fingerprint, Entry] = {}
    for finding in findings:
        fingerprint = target.fingerprint(finding)
        accepted_because = kept.get(fingerprint, reason)
        if accepted_because is None:
            raise InvalidBaseline(
                f"baseline {path}: {finding.check_id} on {finding.resource} is not in it yet and needs a reason: "
                f'give --reason "why these findings are accepted for now" (at least {MIN_REASON_LENGTH} characters)'
            )
        entries.setdefault(fingerprint, Entry(*fingerprint, reason=accepted_because, message=finding.message))
    baseline = Baseline(path, tuple(sorted(entries.values())))
    document = {
        "tool": "preflight",
        "format": FORMAT,
        "about": "findings accepted for now: `payments check --baseline FILE` does not report them; an entry "
        "matches check_id, file (relative to this file's folder), resource and attribute",
        "entries": [dataclasses.asdict(entry) for entry in baseline.entries],
    }
    _write_atomically(path, json.dumps(document, indent=2) + "\n")
    return baseline


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename over it: a reader (or a crash) never sees half a baseline."""
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise InvalidBaseline(f"baseline {path}: cannot write it ({error})") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; a baseline is a file to commit
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise InvalidBaseline(f"baseline {path}: cannot write it ({error})") from None
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key {repeated[0]!r}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
