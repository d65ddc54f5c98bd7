"""Unreadable coverage data files (a child killed while writing its own) are dropped; readable ones are kept."""

from __future__ import annotations

from pathlib import Path

from coverage.data import CoverageData

from tests.coverage_leftovers import drop_unreadable_coverage_files


def test_truncated_and_empty_data_files_are_dropped_and_whole_ones_kept(tmp_path: Path) -> None:
    whole = tmp_path / ".coverage.host.1.aaaaaa"
    data = CoverageData(str(whole))
    data.add_lines({str(tmp_path / "module.py"): [1, 2, 3]})
    data.write()
    written = whole.read_bytes()
    truncated = tmp_path / ".coverage.host.2.bbbbbb"
    truncated.write_bytes(written[: len(written) // 3])
    empty = tmp_path / ".coverage.host.3.cccccc"
    empty.write_bytes(b"")
    combined = tmp_path / ".coverage"
    combined.write_bytes(written)

    assert drop_unreadable_coverage_files(tmp_path) == [truncated, empty]

    assert whole.read_bytes() == written and combined.read_bytes() == written
    assert not truncated.exists() and not empty.exists()
    reread = CoverageData(str(whole))
    reread.read()
    assert reread.lines(str(tmp_path / "module.py")) == [1, 2, 3]
