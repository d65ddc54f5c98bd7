"""What the command's output looks like on a terminal: colour for severities and results, only where it helps.

Colour is used on a stream that is a terminal, unless ``NO_COLOR`` is set to anything non-empty
(https://no-color.org); ``FORCE_COLOR`` (non-empty) asks for it on a pipe too, as for a CI log that renders
it. ``NO_COLOR`` wins over ``FORCE_COLOR``, and ``TERM=dumb`` gets none. Piped output stays plain text.
Progress goes to stderr, so stdout stays what scripts parse.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

#: SGR codes of the few styles the command uses.
STYLES = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}
#: The style of each preflight severity, as in the text report.
SEVERITY_STYLES = {"error": "red", "warning": "yellow", "note": "cyan"}


def use_color(stream: TextIO) -> bool:
    """Whether to colour what is written to ``stream`` (see the module's docstring for the rules)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def paint(text: str, style: str, *, color: bool) -> str:
    """``text`` in ``style`` (a key of :data:`STYLES`) when ``color``, else unchanged."""
    return f"\033[{STYLES[style]}m{text}\033[0m" if color else text


def step(doing: str) -> float:
    """Say on stderr that a step that takes seconds starts, as ``payments up`` does (``==> synthesizing
    dev/pr42``); the start time, for :func:`step_done`."""
    print(f"==> {doing}", file=sys.stderr, flush=True)
    return time.monotonic()


def step_done(outcome: str, started: float) -> None:
    """Say on stderr what the step gave and how long it took: ``    2 stacks in cdktf.out (6.1s)``."""
    print(f"    {outcome} ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)
