# PYTHON_ARGCOMPLETE_OK  (argcomplete completes only scripts that say so in their first lines)
"""The ``payments`` command: one subcommand per job, each in ``payments_cli.commands``.

``main`` turns what escapes a command into an exit status (``payments_cli.commands`` lists them): a
``PaymentsError`` is its message and its own code, Ctrl-C 130, stdout closed early (``| head``) 141 with
nothing printed, and anything else a crash: one line, status 70, the traceback with ``--traceback``.
"""

from __future__ import annotations

import argparse
import gc
import os
import select
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from payments_cli.commands import (
    EXIT_CLOSED_PIPE,
    EXIT_CRASH,
    EXIT_INTERRUPTED,
    account,
    audit,
    bootstrap,
    build,
    check,
    connectors,
    console,
    demo,
    deploy,
    destroy,
    down,
    keys,
    plan,
    serve,
    smoke,
    status,
    synth,
    up,
    webhooks,
)
from payments_cli.errors import PaymentsError

#: The distribution ``payments --version`` reports.
DISTRIBUTION = "payment-platform"


def version() -> str:
    """The installed version of the platform (``pip install -e .`` or a wheel), from its metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed: run `make` or `pip install -e .`)"


class _VersionAction(argparse.Action):
    """``--version``: reads the package metadata only when asked, so other runs do not pay for it."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        print(f"payments {version()}")
        parser.exit()


_TRACEBACK_HELP = "on an unexpected error (exit status 70), print its full traceback"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="payments",
        description="Build, check, deploy and run the payment platform.",
        epilog=(
            "Run `payments COMMAND --help` for what each command does, its flags and an example.\n"
            "Exit status: 0 done, 1 failed or findings, 2 bad usage, 70 a crash (a bug: rerun with --traceback),\n"
            "130 interrupted, 141 stdout closed early (`| head`). Colour on a terminal only, never with NO_COLOR.\n"
            'Shell completion: eval "$(register-python-argcomplete payments)"'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    parser.add_argument("--traceback", action="store_true", help=_TRACEBACK_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo.register(commands)
    up.register(commands)
    smoke.register(commands)
    keys.register(commands)
    connectors.register(commands)
    audit.register(commands)
    console.register(commands)
    webhooks.register(commands)
    status.register(commands)
    down.register(commands)
    plan.register(commands)
    deploy.register(commands)
    destroy.register(commands)
    bootstrap.register(commands)
    account.register(commands)
    serve.register(commands)
    build.register(commands)
    synth.register(commands)
    check.register(commands)
    _accept_traceback_after_the_command(parser)
    return parser


def _accept_traceback_after_the_command(parser: argparse.ArgumentParser) -> None:
    """``payments check --traceback ...`` works as ``payments --traceback check ...`` does: every subcommand
    (and sub-subcommand) takes the flag too, without resetting it when it is given before."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                subparser.add_argument(
                    "--traceback", action="store_true", default=argparse.SUPPRESS, help=_TRACEBACK_HELP
                )
                _accept_traceback_after_the_command(subparser)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request, if this run is one (argcomplete sets ``_ARGCOMPLETE``)."""
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``payments`` console script: the exit status."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
    except BrokenPipeError:
        # Whoever read stdout has gone (`payments check --list | head -1`): say nothing more, and exit as a
        # program killed by SIGPIPE does, so a cut report never passes for a complete one. stdout is
        # pointed at /dev/null so the interpreter's last flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    _complete(parser)
    args = parser.parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("payments: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PaymentsError as error:
        print(f"payments {command}: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        if _stdout_is_closed():
            raise
        return _crash(command, args.traceback)
    except Exception:  # noqa: BLE001 - anything a command did not expect is a bug: reported as a crash
        return _crash(command, args.traceback)


def _stdout_is_closed() -> bool:
    """Whether stdout is a pipe nobody reads any more (a BrokenPipeError may also come from a socket)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() here, or stdout has no descriptor
        return True


def _crash(command: str, show_traceback: bool) -> int:
    """An exception no command expected is a bug: one line saying so (the traceback with --traceback)."""
    error = sys.exception()
    assert error is not None
    if show_traceback:
        traceback.print_exc(file=sys.stderr)
    hint = "" if show_traceback else "; rerun with --traceback to see where"
    print(f"payments {command}: crashed, a bug: {type(error).__name__}: {error}{hint}", file=sys.stderr)
    return EXIT_CRASH


def run() -> int:
    """The ``payments`` console script: ``main``, then leave what the command built to the process's end.

    A synth holds thousands of CDK binding classes, and the interpreter's last garbage collections
    walked them all for 0.4 s of a 3 s ``payments synth``; frozen objects are skipped. Only here, never in
    ``main``: tests call ``main`` many times in one process, and frozen objects are never collected.
    """
    status = main()
    gc.freeze()
    return status


if __name__ == "__main__":
    sys.exit(run())
