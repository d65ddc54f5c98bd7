"""Fakes of the processor's storage interfaces, for unit tests of the logic (never shipped in the zip)."""
