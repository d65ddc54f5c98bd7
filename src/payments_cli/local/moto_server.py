"""The moto server the local target runs: ``moto.server`` with the emulator fixes of deviations.py gap 7.

Run as ``python -m payments_cli.local.moto_server -H 127.0.0.1 -p PORT`` (the same arguments as
``python -m moto.server``). Each fix is the smallest change that makes moto answer as AWS does where the
stacks depend on it; none changes what is synthesized.
"""

from __future__ import annotations

import secrets
import string
import sys
from typing import Any

_RESOURCE_ID_ALPHABET = string.ascii_uppercase + string.digits


def unique_dbi_resource_id() -> str:
    """A DbiResourceId shaped like AWS's: ``db-`` and 26 upper-case letters and digits."""
    return "db-" + "".join(secrets.choice(_RESOURCE_ID_ALPHABET) for _ in range(26))


def apply_fixes() -> None:
    """The fixes below, before the server starts."""
    _unique_dbi_resource_ids()
    _disposable_delete_markers()
    _compact_redrive_policies()


def _unique_dbi_resource_ids() -> None:
    """moto 5.x gives every DB instance the same DbiResourceId (``db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U``); the aws
    provider reads an instance back by that id, so with two deployments on one emulator both reads find
    two instances and fail. Give each instance its own id, as RDS does."""
    from moto.rds import models

    original_init = models.DBInstance.__init__

    def init_with_unique_resource_id(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.dbi_resource_id = unique_dbi_resource_id()

    models.DBInstance.__init__ = init_with_unique_resource_id  # type: ignore[method-assign]


def _disposable_delete_markers() -> None:
    """Deleting the last version of a key whose history holds a delete marker makes moto 5.x call
    ``dispose()`` on the marker, which has none: DeleteObjects answers 500 forever. A versioned state bucket
    always has one (Terraform deletes its ``.tflock`` after each run), so destroying a state bucket with
    ``force_destroy`` would never finish. A marker holds no data: disposing of it is nothing."""
    from moto.s3 import models

    if not hasattr(models.FakeDeleteMarker, "dispose"):

        def dispose(self: Any, garbage: bool = False) -> None:
            del self, garbage

        models.FakeDeleteMarker.dispose = dispose  # type: ignore[attr-defined]


def _compact_redrive_policies() -> None:
    """moto 5.x gives a queue's RedrivePolicy back as ``json.dumps`` writes it (``{"a": 1, "b": 2}``); SQS gives
    it back compact (``{"a":1,"b":2}``), as Terraform's configuration writes it. The aws provider compares the
    strings, so every plan would update both webhook queues for a whitespace change. Answer it compact."""
    import json

    from moto.sqs import models

    original: Any = models.Queue.attributes

    def attributes(self: Any) -> dict[str, Any]:
        result = dict(original.fget(self))
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]


def main(argv: list[str] | None = None) -> None:
    """Apply the fixes, then run moto's own server entry point."""
    apply_fixes()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
