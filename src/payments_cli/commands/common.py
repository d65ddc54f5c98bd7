"""What the commands share: their flags, synthesis with progress, and turning failures into a clear message
and an exit code scripts can trust (0 ok, 1 the job failed, 2 unusable input)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payments_cli.commands import EXIT_FAILED, EXIT_USAGE
from payments_cli.commands.terminal import step, step_done, use_color
from payments_cli.errors import PaymentsError

if TYPE_CHECKING:
    from payments_infra.synth import SynthResult

LOCAL_SUFFIX = "local"


def add_deployment(parser: argparse.ArgumentParser) -> None:
    """``--env`` (default dev) and ``--suffix`` (default local)."""
    from payments_cli.commands.synth import add_deployment_flags

    add_deployment_flags(parser, suffix_default=LOCAL_SUFFIX)


def add_admin_flags(parser: argparse.ArgumentParser) -> None:
    """What a command run by the deployment's admin function takes: ``--env``, ``--suffix``, ``--format``,
    ``--target local|aws`` and ``--profile``."""
    add_deployment(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="local: the deployment on this machine (default); aws: invoke its admin function in your account",
    )
    parser.add_argument("--profile", default=None, help="AWS profile for --target aws")


def invoke_admin(args: argparse.Namespace, payload: dict[str, Any]) -> dict[str, Any]:
    """One action of the deployment's admin function: on the local target from the deployed zip, on AWS by
    invoking the function, with the identity this command runs as (``actor``: the AWS caller's ARN, or the local
    user) for the audit log. Its refusal is AdminCallFailed (exit 2 for an invalid request, else 1); an answer
    whose audit entry could not be written is printed with a warning on stderr."""
    if args.target == "aws":
        from payments_cli.aws import target as aws_target

        answer = aws_target.invoke_admin(args.env, args.suffix, payload, profile=args.profile)
    else:
        from payments_cli.deploy.state import StateFolder
        from payments_cli.local.lambda_runtime import functions

        answer = functions.invoke_admin(StateFolder(), args.env, args.suffix, payload)
    if answer.get("audit_error"):
        print(f"warning: {answer['audit_error']}", file=sys.stderr)
    return answer


def print_listing(
    entries: list[dict[str, Any]], *, as_json: bool, describe: Callable[[dict[str, Any]], str], count: str
) -> None:
    """A list an admin action answered: JSON on stdout, or one line an entry and ``count`` ("3 key(s)") on
    stderr, so a script reading stdout gets the entries alone."""
    if as_json:
        print(json.dumps(entries, indent=2))
        return
    for entry in entries:
        print(describe(entry))
    print(count, file=sys.stderr)


def add_target(parser: argparse.ArgumentParser) -> None:
    """``--target local|aws``, ``--profile`` and ``--lock-timeout``."""
    parser.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="local: the moto emulator and local PostgreSQL on this machine (default); aws: a real account",
    )
    parser.add_argument(
        "--profile", default=None, help="AWS profile for --target aws (default: AWS_PROFILE or the default chain)"
    )
    add_lock_timeout(parser)


def add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    """``--lock-timeout``."""
    parser.add_argument(
        "--lock-timeout",
        default="0s",
        metavar="DURATION",
        help="how long to wait for another run's Terraform state lock, e.g. 5m (default 0s: fail at once)",
    )


def synthesize_deployment(
    environment: str,
    suffix: str,
    *,
    out: Path,
    package: Path | None,
    rebuild: bool = False,
    account_id: str | None = None,
) -> SynthResult:
    """Check the deployment's names (``InvalidName``, exit 2, before anything is built), build the Lambda
    package unless one is given, and synthesize both stacks into ``out``, each step said on stderr.

    The package is rebuilt only when its inputs changed since the last build (the build is deterministic,
    so equal inputs give an equal zip) or ``rebuild`` says so. With ``account_id``, the account stack of the
    deployment's region too."""
    from payments_infra.lambda_build import build_lambda_package
    from payments_infra.naming import Naming, validate_account_id
    from payments_infra.synth import AccountScope, Deployment, default_package_path, synthesize

    Naming(environment, suffix)
    account = None
    if account_id is not None:
        account = AccountScope(validate_account_id(account_id))  # a malformed id: refused before anything is built
    if package is None:
        path = default_package_path()
        before = path.stat().st_mtime_ns if path.exists() else None
        started = step(f"building the Lambda package into {path}")
        built = build_lambda_package(path, reuse=not rebuild)
        reused = before is not None and path.stat().st_mtime_ns == before
        how = "reused: its inputs are unchanged (--rebuild forces a build)" if reused else "built"
        step_done(f"{built.size / 1e6:.1f} MB, source_code_hash {built.source_code_hash}, {how}", started)
        started = step(f"synthesizing {environment}/{suffix} into {out}")
        result = synthesize([Deployment(environment, suffix)], out=out, package=built, account=account)
    else:
        started = step(f"synthesizing {environment}/{suffix} into {out} with {package}")
        result = synthesize([Deployment(environment, suffix)], out=out, package=package, account=account)
    step_done(f"{len(result.stacks)} stacks", started)
    _index_bindings()
    return result


def _index_bindings() -> None:
    """On a machine's first synth, wait for the jsii runtime to index the AWS bindings (a few seconds,
    once): every later synth then loads only the services it uses (payments_infra.jsii_cache)."""
    from payments_infra.jsii_cache import ensure_indexed, indexed

    if not indexed():
        started = step("indexing the AWS bindings for the jsii runtime (once per machine)")
        ensure_indexed()
        step_done("indexed" if indexed() else "no index written; later synths stay correct, only slower", started)


def guarded(command: str, action: Callable[[], int]) -> int:
    """Run a command body; a failure the user can act on becomes one clear message on stderr and its exit
    code (1 or 2). Anything else is a bug and goes up to ``main``, which reports it as a crash."""
    try:
        return action()
    except PaymentsError as error:
        return _fail(command, error, error.exit_code)
    except Exception as error:
        exit_code = _exit_code_of(error)
        if exit_code is None:
            raise
        return _fail(command, error, exit_code)


def _exit_code_of(error: Exception) -> int | None:
    """The exit code of a failure whose class does not derive from ``PaymentsError``: those of the libraries
    the command drives (payments_infra, preflight), which do not know about the command. None for anything
    else: a bug."""
    from payments_infra.lambda_build import BuildError
    from payments_infra.naming import InvalidName
    from preflight.model import UnusableInput

    if isinstance(error, (InvalidName, UnusableInput)):
        return EXIT_USAGE
    if isinstance(error, BuildError):
        return EXIT_FAILED
    return None


def _fail(command: str, error: Exception, exit_code: int) -> int:
    from payments_cli.deploy.prepare import PreflightFailed

    if isinstance(error, PreflightFailed):
        from preflight.output import text

        sys.stderr.write(text.render(error.report, color=use_color(sys.stderr)))
        print(
            f"payments {command}: {error}; fix the findings above (`payments check --list` explains each)",
            file=sys.stderr,
        )
    else:
        print(f"payments {command}: {error}", file=sys.stderr)
    return exit_code
