"""The ``payments`` command and the local target (PostgreSQL and AWS emulator processes)."""
