"""One module per ``payments`` subcommand: each has ``register(subparsers)`` and ``run(args) -> int``.

Exit codes, the same for every command: 0 success, 1 the job failed, 2 unusable input (a bad flag,
environment or suffix), with the reason and the fix on stderr.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
