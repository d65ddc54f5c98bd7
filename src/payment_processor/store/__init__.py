"""Data access: the interfaces the logic layer uses, a PostgreSQL implementation and in-memory fakes."""
