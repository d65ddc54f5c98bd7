"""Coverage data files that children killed mid-write leave unreadable, dropped before pytest-cov combines.

The CLI, crash-point and deliver-run tests run the product as real subprocesses, which coverage follows (pyproject's
``patch = ["subprocess"]``) and which each write a ``.coverage.<host>.<pid>.<random>`` file as they exit. Some tests
kill their children on purpose (a crash point, a run stopped mid-batch); one killed while coverage writes its file
leaves a file sqlite cannot read. Coverage's combine then warns for each ("N files errored") and keeps it. Those
files hold no data anyone could use, so they are deleted here first: the run's output stays free of that noise, and
a warning that is left means something new.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest


def drop_unreadable_coverage_files(folder: Path) -> list[Path]:
    """Delete the parallel coverage data files in ``folder`` that coverage cannot read; the files deleted."""
    from coverage.data import CoverageData
    from coverage.exceptions import CoverageException

    dropped = []
    for path in sorted(folder.glob(".coverage.*")):
        try:
            CoverageData(str(path), read_only=True).read()
        except CoverageException:
            path.unlink(missing_ok=True)
            dropped.append(path)
    return dropped


class UnreadableCoverageData:
    """Pytest plugin: runs the cleanup as the test loop ends, before pytest-cov's own wrapper combines."""

    # trylast: the innermost wrapper, so its teardown runs before pytest-cov's (which combines the data files).
    # Only in the process that combines (not an xdist worker): a worker ending while another's child is still
    # writing its file would take that file, half written, for a broken one.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            if not hasattr(session.config, "workerinput"):
                drop_unreadable_coverage_files(session.config.rootpath)
