"""``payments synth``: write a deployment's Terraform JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from payments_cli.commands import EXIT_OK


def add_deployment_flags(parser: argparse.ArgumentParser, *, suffix_default: str | None = None) -> None:
    """``--env`` and ``--suffix``, shared by every command that works on one deployment."""
    from payments_infra.environments import ENVIRONMENTS

    parser.add_argument(
        "--env",
        default="dev",
        choices=sorted(ENVIRONMENTS),
        help="environment whose sizes, redundancy and protections to use (default: dev)",
    )
    parser.add_argument(
        "--suffix",
        default=suffix_default,
        required=suffix_default is None,
        help="deployment suffix carried by every unique AWS name, e.g. pr42 or alice "
        "(1-20 lower-case letters, digits, single hyphens)"
        + (f" (default: {suffix_default})" if suffix_default else ""),
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``synth`` subcommand."""
    parser = commands.add_parser(
        "synth",
        help="synthesize a deployment's Terraform JSON (bootstrap and platform stacks)",
        description=(
            "Build the Lambda package (reused when its inputs are unchanged; --rebuild forces it), then write two\n"
            "stacks for the deployment ENV/SUFFIX:\n"
            "  OUT/stacks/payments-bootstrap-ENV-SUFFIX/cdk.tf.json  the state bucket (apply first)\n"
            "  OUT/stacks/payments-ENV-SUFFIX/cdk.tf.json            the platform, with the zip as an asset\n"
            "and, with --account-id, the account stack every deployment in that account shares:\n"
            "  OUT/stacks/payments-account-REGION/cdk.tf.json        API Gateway's CloudWatch role (apply before all)\n"
            "Names are checked against AWS limits before anything is built."
        ),
        epilog="example: payments synth --env staging --suffix pr42 --out /tmp/out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_deployment_flags(parser)
    parser.add_argument("--out", type=Path, default=Path("cdktf.out"), help="output folder (default: cdktf.out)")
    parser.add_argument(
        "--package", type=Path, default=None, help="use this already-built Lambda zip instead of building one"
    )
    parser.add_argument(
        "--account-id",
        default=None,
        metavar="ACCOUNT",
        help="also write the account stack for this 12-digit AWS account id (its state bucket's name carries it; "
        "`payments deploy --target aws` finds the id from your credentials)",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="build the Lambda package even if its inputs (source, lock file, build settings) are unchanged",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Synthesize and print where each stack went."""
    from payments_cli.commands.common import guarded, synthesize_deployment

    def body() -> int:
        result = synthesize_deployment(
            args.env,
            args.suffix,
            out=args.out,
            package=args.package,
            rebuild=args.rebuild,
            account_id=args.account_id,
        )
        for stack in result.stacks:
            print(f"{stack.kind:9}  {stack.path}")
        return EXIT_OK

    return guarded("synth", body)
