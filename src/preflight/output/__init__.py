"""Reports of a check run: ``text`` for people, ``json`` for scripts, ``sarif`` for code scanning."""
