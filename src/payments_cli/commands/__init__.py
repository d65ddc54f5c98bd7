"""One module per ``payments`` subcommand: each has ``register(subparsers)`` and ``run(args) -> int``.

Exit codes, the same for every command: 0 success, 1 the job failed, 2 unusable input (a bad flag,
environment or suffix), with the reason and the fix on stderr (a ``payments_cli.errors.PaymentsError``
carries its code). 70 (``EX_SOFTWARE``) is a crash, a bug: `payments --traceback ...` shows where; 130 is
Ctrl-C; 141 (128 + SIGPIPE, what a C program killed by it gives) is stdout closed before all was written,
as by `payments check --list | head -1`: nothing more is printed, and a cut report is not called a success.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CRASH = 70
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141
