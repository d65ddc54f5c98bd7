"""Processes the local target runs in place of AWS: a PostgreSQL server and the moto emulator."""
