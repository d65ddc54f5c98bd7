"""What the deployment commands share: their flags, and turning failures into a clear message and an
exit code scripts can trust (0 ok, 1 the job failed, 2 unusable input)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from payments_cli.commands import EXIT_FAILED, EXIT_USAGE

LOCAL_SUFFIX = "local"


def add_deployment(parser: argparse.ArgumentParser) -> None:
    """``--env`` (default dev) and ``--suffix`` (default local)."""
    from payments_cli.commands.synth import add_deployment_flags

    add_deployment_flags(parser, suffix_default=LOCAL_SUFFIX)


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


def guarded(command: str, action: Callable[[], int]) -> int:
    """Run a command body; known failures become one clear message on stderr and exit code 1 or 2."""
    from payments_cli.aws_target import CredentialsMissing
    from payments_cli.local.api_server import ServeError
    from payments_cli.local.functions import AdminCallFailed
    from payments_cli.local.postgres import PostgresNotInstalled
    from payments_cli.local.runtime import RuntimeNotFound
    from payments_cli.local.services import ServiceError
    from payments_cli.local.target import NotDeployed, PreflightFailed
    from payments_cli.terraform_runner import TerraformError
    from payments_infra.lambda_build import BuildError
    from payments_infra.naming import InvalidName

    try:
        return action()
    except InvalidName as error:
        print(f"payments {command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PreflightFailed as error:
        from preflight.output import text

        sys.stderr.write(text.render(error.report))
        print(
            f"payments {command}: {error}; fix the findings above (`payments check --list` explains each)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except (
        TerraformError,
        ServiceError,
        ServeError,
        NotDeployed,
        RuntimeNotFound,
        PostgresNotInstalled,
        CredentialsMissing,
        BuildError,
        AdminCallFailed,
    ) as error:
        print(f"payments {command}: {error}", file=sys.stderr)
        return EXIT_FAILED
